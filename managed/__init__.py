"""Document ingestion for managed indexes: parse files, chunk their text, embed the chunks."""
