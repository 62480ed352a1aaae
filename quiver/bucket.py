"""Every object key Quiver writes in the object store, in one place.

The bucket, not any node's disk, is the source of truth for sealed data: a flushed segment is
its three files under its prefix, and each built index one file per index version. Keys are
derived from ids alone, so the catalogue records states, not paths.
"""

from __future__ import annotations

SEGMENTS = "segments/"
INDEXES = "indexes/"


def segment_prefix(collection_id: int, segment_id: int) -> str:
    """Everything of one segment (GC removes the prefix once the segment is dropped)."""
    return f"{SEGMENTS}{collection_id}/{segment_id}/"


def segment_meta(collection_id: int, segment_id: int) -> str:
    """JSON: the segment's collection, partition and schema (datanode.storage.SegmentMeta)."""
    return segment_prefix(collection_id, segment_id) + "meta.json"


def segment_rows(collection_id: int, segment_id: int) -> str:
    """Arrow IPC file: ids, write sequence numbers, vectors and scalar columns (quiver.segmentfile)."""
    return segment_prefix(collection_id, segment_id) + "data.arrow"


def segment_deletes(collection_id: int, segment_id: int) -> str:
    """The delete bitmap, rewritten whole as deletes arrive."""
    return segment_prefix(collection_id, segment_id) + "deletes.bin"


def index_prefix(collection_id: int, segment_id: int) -> str:
    return f"{INDEXES}{collection_id}/{segment_id}/"


def index_file(collection_id: int, segment_id: int, version: int) -> str:
    """A serialised index (faiss or Annoy) of one index version over one segment's vectors."""
    return index_prefix(collection_id, segment_id) + f"{version}.bin"


def segment_of(key: str) -> int | None:
    """The id of the segment an object under SEGMENTS or INDEXES belongs to; None for any other key."""
    parts = key.split("/")
    if len(parts) == 4 and f"{parts[0]}/" in (SEGMENTS, INDEXES) and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[2])
    return None
