"""Request limits of the REST surfaces, checked before any work is done.

Each is refused with the surface's own error (docs/security.md lists them with their errors).
Bodies are measured as they arrive (proxy.http.read_limited). Limits that Milvus has keep
Milvus' value.
"""

from __future__ import annotations

MIB = 1024 * 1024

# Request bodies. The Milvus 0.x insert takes --max-body-mb (256 MB by default: Milvus' own
# limit is 256 MB of vector data); uploads of documents stream and take --max-upload-mb.
DEFAULT_INSERT_BODY_BYTES = 256 * MIB
DATA_BODY_BYTES = 64 * MIB  # searches, REST v2 inserts and upserts, 0.x deletes
CONTROL_BODY_BYTES = 1 * MIB  # every other JSON body

MAX_NQ = 16384  # query vectors in one search (Milvus 2.x: nq in [1, 16384])
MAX_INSERT_ROWS = 100_000  # rows in one REST v2 insert or upsert (each row is checked in Python)
MAX_IDS = 16384  # primary keys in one REST v2 get or delete
MAX_JSON_FIELD_BYTES = 65536  # one JSON field value, or one row's dynamic fields (Milvus' limit)
MAX_NAME_CHARS = 255  # names of collections, partitions, aliases, indexes and fields (Milvus)
MAX_PAGE_BYTES = 64 * MIB  # ids and vectors in one page of a 0.x segment listing


# The managed-index API (LlamaCloud's): strings in requests, filters in retrievals.
MAX_LABEL_CHARS = 1024  # ids, names, display names, unique ids, page tokens, file names
MAX_TEXT_CHARS = 16384  # descriptions, queries, metadata values
MAX_FILTERS = 64  # custom filter fields in one retrieval, and conditions on one field
MAX_FILTER_VALUES = 1024  # values of one `in` / `nin` condition
