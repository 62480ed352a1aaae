"""Compaction on a data node: the live rows of flushed segments of one partition rewritten as
one new segment, and the recovery of a compaction a crash interrupted.

Rows keep their ids and write sequence numbers, so deletes replayed later still apply to them
exactly; deletes applied to the sources while the new segment was written are carried over.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from datanode import storage
from datanode.search import rows_of
from datanode.segments import LocalSegment
from datanode.storage import SegmentMeta
from quiver import segmentfile


def finish_interrupted(directories: list[Path]) -> None:
    """Completes compactions a crash interrupted: an output with its rows file replaces its
    sources; an output without one is discarded (its sources are intact)."""
    for directory in directories:
        meta = storage.read_meta(directory)
        if not meta.replaces:
            continue
        if storage.has_rows(directory):
            for source in meta.replaces:
                shutil.rmtree(directory.parent / str(source), ignore_errors=True)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def stage_compacted(
    meta: SegmentMeta, directory: Path, taken: list[tuple[LocalSegment, np.ndarray]]
) -> list[Path]:
    """Writes the live rows (per the delete flags taken) as a new segment's files, the deletes
    and rows under temporary names: storage.publish() puts them in place once uploaded."""
    ids, lsns, vectors, scalars = [], [], [], []
    for source, deleted in taken:
        live = np.flatnonzero(~deleted)
        source_ids, source_lsns, _ = source.ids_and_deletes()
        ids.append(source_ids[live])
        lsns.append(source_lsns[live])
        source_vectors, source_scalars = rows_of(source, live)
        vectors.append(source_vectors)
        if source_scalars is not None:
            scalars.append(source_scalars)
    rows = segmentfile.Rows(
        np.concatenate(ids),
        np.concatenate(lsns),
        np.concatenate(vectors),
        pa.concat_tables(scalars) if scalars else pa.table({}),
    )
    storage.write_meta(directory, meta)
    return [
        storage.stage_deletes(directory, np.zeros(len(rows.ids), dtype=bool)),
        storage.stage_rows(directory, rows, meta.layout),  # last: the rows file completes it
    ]


def carry_new_deletes(compacted: LocalSegment, taken: list[tuple[LocalSegment, np.ndarray]]) -> None:
    """Deletes applied to the sources while the new segment was written apply to it too."""
    base = 0
    for source, deleted_then in taken:
        _, _, deleted_now = source.ids_and_deletes()
        live_then = np.flatnonzero(~deleted_then)
        newly = np.flatnonzero(deleted_now & ~deleted_then)
        if len(newly):
            # Until its deletes are uploaded, the checkpoint stays put (0): the log holds them.
            compacted.mark_deleted(base + np.searchsorted(live_then, newly), 0)
        base += len(live_then)


