"""Sealed segments and indexes in the object store, from a data node's side.

A segment is uploaded before it counts as flushed: its meta, then its deletes, then its rows,
whose object completes it. Local files are staged under temporary names, uploaded, and only
then put in place, so a local rows file always has its copy in the bucket and a node whose disk
is lost (or wiped) restores what it serves from there. Indexes are built by index nodes and
written to the bucket; a node downloads the ones of the segments it serves.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from datanode import indexes, storage
from datanode.storage import DATA_FILE, DELETES_FILE, META_FILE, SegmentMeta
from quiver import bucket
from quiver.objectstore import ObjectStore
from quiver.schema import IndexSpec


class SegmentObjects:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def upload_segment(self, meta: SegmentMeta, staged: list[Path]) -> None:
        """Uploads a segment's meta and its staged deletes and rows files, rows last."""
        await self.store.put(bucket.segment_meta(meta.collection_id, meta.id), meta.to_json())
        deletes, rows = staged
        await self.store.put_file(bucket.segment_deletes(meta.collection_id, meta.id), deletes)
        await self.store.put_file(bucket.segment_rows(meta.collection_id, meta.id), rows)

    async def upload_deletes(self, meta: SegmentMeta, staged: Path) -> None:
        await self.store.put_file(bucket.segment_deletes(meta.collection_id, meta.id), staged)

    async def deletes(self, collection_id: int, segment_id: int, rows: int) -> np.ndarray:
        """A flushed segment's deleted-row flags as the bucket has them."""
        key = bucket.segment_deletes(collection_id, segment_id)
        return storage.parse_deletes(await self.store.get(key), rows, key)

    async def restore_segment(
        self, collection_id: int, segment_id: int, directory: Path, index: IndexSpec | None
    ) -> None:
        """Downloads a flushed segment (and its index) into `directory`; the rows file, put in
        place last, completes it."""
        directory.mkdir(parents=True, exist_ok=True)
        await self.store.get_to_file(bucket.segment_meta(collection_id, segment_id), directory / META_FILE)
        deletes = directory / (DELETES_FILE + ".tmp")
        await self.store.get_to_file(bucket.segment_deletes(collection_id, segment_id), deletes)
        if index is not None:
            await self.fetch_index(collection_id, segment_id, directory, index)
        rows = directory / (DATA_FILE + ".tmp")
        await self.store.get_to_file(bucket.segment_rows(collection_id, segment_id), rows)
        await asyncio.to_thread(_publish_all, [deletes, rows])

    async def fetch_index(self, collection_id: int, segment_id: int, directory: Path, spec: IndexSpec) -> None:
        """Downloads an index file beside its segment; its spec file, written last, marks it complete."""
        final = indexes.data_path(directory, spec.version)
        await self.store.get_to_file(bucket.index_file(collection_id, segment_id, spec.version), final)
        await asyncio.to_thread(indexes.save_spec, directory, spec)


def _publish_all(staged: list[Path]) -> None:
    for path in staged:
        storage.publish(path)

