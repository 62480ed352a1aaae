"""The coordinator role: the only writer of cluster metadata, kept in Redis."""
