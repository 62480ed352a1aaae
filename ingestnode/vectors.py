"""An index's chunks in a Quiver collection: the schema, the rows, and the filters over them.

One row per chunk: its embedding, text, position in the file (characters, pages), the file's
user metadata (a JSON field, for custom filters) and its distinct terms (for full-text
scoring). `run_id` names the sync run that wrote the row: a run inserts a file's new chunks
first and then deletes the file's rows of every other run, so retrieval never sees the file
missing, and rows left by a run that crashed half way go at the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
import pyarrow as pa

from ingestnode.fulltext import MAX_TERM_CHARS, MAX_TERMS_PER_CHUNK, distinct_terms
from managed.chunking import Chunk
from managed.embedding import EMBEDDING_DIM
from quiver.catalogue import Dialect, index_type
from quiver.schema import MAX_VARCHAR_LENGTH, Collection, DataType, Field, IndexSpec

METRIC = "COSINE"  # the model's vectors are unit length: the score is their cosine
VECTOR_INDEX = "AUTOINDEX"
ID_CHARS = 64

FILE_ID = "file_id"
RUN_ID = "run_id"
CONTENT = "content"
TERMS = "terms"
METADATA = "metadata"
POSITION_FIELDS = ("chunk_index", "start_char", "end_char", "token_count", "page_start", "page_end")
# What retrieval reads back of a hit.
OUTPUT_FIELDS = [FILE_ID, CONTENT, METADATA, *POSITION_FIELDS]

_FIELDS = (
    Field("id", DataType.INT64, is_primary=True, auto_id=True),
    Field("vector", DataType.FLOAT_VECTOR, dim=EMBEDDING_DIM),
    Field(FILE_ID, DataType.VARCHAR, max_length=ID_CHARS),
    Field(RUN_ID, DataType.VARCHAR, max_length=ID_CHARS),
    *(Field(name, DataType.INT64) for name in POSITION_FIELDS),
    Field(CONTENT, DataType.VARCHAR, max_length=MAX_VARCHAR_LENGTH),
    Field(TERMS, DataType.ARRAY, element_type=DataType.VARCHAR, max_length=MAX_TERM_CHARS,
          max_capacity=MAX_TERMS_PER_CHUNK),
    Field(METADATA, DataType.JSON),
)


def collection_name(index_id: str) -> str:
    return "managed_" + index_id.replace("-", "_")


def collection_spec(name: str) -> Collection:
    fields = tuple(replace(f, field_id=100 + position) for position, f in enumerate(_FIELDS))
    return Collection(id=0, name=name, fields=fields, metric_type=METRIC, index_file_size_mb=256,
                      description="chunks of a managed document index")


def vector_index_spec() -> IndexSpec:
    kind = index_type(VECTOR_INDEX)
    return IndexSpec("vector", kind.name, METRIC, kind.validate_build({}, Dialect.V2, EMBEDDING_DIM),
                     index_name="vector", dialect_name=VECTOR_INDEX)


def search_params(collection: Collection, k: int) -> str:
    index = collection.vector_index
    params = index.catalogue_type.validate_search({}, Dialect.V2, k) if index else {}
    return orjson.dumps(params).decode()


def chunk_rows(
    collection: Collection, file_id: str, run_id: str, chunks: Sequence[Chunk], metadata: dict[str, Any]
) -> pa.Table:
    """The scalar columns of a file's chunks, in the collection's column order."""
    columns: dict[str, list[Any]] = {
        FILE_ID: [file_id] * len(chunks),
        RUN_ID: [run_id] * len(chunks),
        CONTENT: [c.text for c in chunks],
        TERMS: [distinct_terms(c.text) for c in chunks],
        METADATA: [orjson.dumps(metadata).decode()] * len(chunks),
        "chunk_index": [c.index for c in chunks],
        "start_char": [c.start_char for c in chunks],
        "end_char": [c.end_char for c in chunks],
        "token_count": [c.token_count for c in chunks],
        "page_start": [c.page_start for c in chunks],
        "page_end": [c.page_end for c in chunks],
    }
    schema = collection.schema.scalar_schema
    return pa.table({name: pa.array(columns[name], type=schema.field(name).type) for name in schema.names},
                    schema=schema)


def literal(value: Any) -> str:
    """A filter literal: JSON strings, numbers, booleans and lists are Milvus filter literals."""
    return orjson.dumps(value).decode()


def file_rows(file_id: str, except_run: str = "") -> str:
    """The filter matching a file's rows (but those written by `except_run`)."""
    text = f"{FILE_ID} == {literal(file_id)}"
    return f"{text} and {RUN_ID} != {literal(except_run)}" if except_run else text
