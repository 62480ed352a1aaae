"""A segment's rows, deletes by log order, persistence; exact top-k merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datanode import indexes, storage
from datanode.segments import LocalSegment
from datanode.storage import SegmentMeta
from quiver.catalogue import METRICS
from quiver.schema import IndexSpec, SegmentState, vector_collection
from quiver.topk import merge_topk


def make_segment(tmp_path: Path) -> LocalSegment:
    meta = SegmentMeta(1, 10, 11, vector_collection("c", 2, "L2", 1).schema, seal_bytes=1 << 20)
    return LocalSegment.create(meta, tmp_path / "1")


def test_delete_hides_only_rows_written_before_it(tmp_path: Path) -> None:
    segment = make_segment(tmp_path)
    segment.append(np.array([5, 6]), np.zeros((2, 2), np.float32), None, lsn=1)
    assert segment.delete(np.array([5]), lsn=2) == 1
    segment.append(np.array([5]), np.ones((1, 2), np.float32), None, lsn=3)  # the id comes back
    snapshot = segment.snapshot()
    assert snapshot.ids[~snapshot.deleted].tolist() == [6, 5]
    assert segment.delete(np.array([5]), lsn=2) == 0, "replaying the delete changes nothing"
    assert segment.deleted_count == 1


def test_snapshots_do_not_move_when_rows_are_appended(tmp_path: Path) -> None:
    segment = make_segment(tmp_path)
    segment.append(np.arange(10), np.zeros((10, 2), np.float32), None, lsn=1)
    before = segment.snapshot()
    segment.append(np.arange(10, 5000), np.ones((4990, 2), np.float32), None, lsn=2)  # reallocates
    assert len(before.ids) == 10 and before.ids.tolist() == list(range(10))
    assert before.vectors.sum() == 0


def test_persisted_segment_opens_with_its_deletes_and_loads_on_demand(tmp_path: Path) -> None:
    segment = make_segment(tmp_path)
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    segment.append(np.array([1, 2, 3, 4]), vectors, None, lsn=1)
    segment.delete(np.array([2]), lsn=2)
    segment.state = SegmentState.SEALED
    snapshot, _ = segment.begin_persist()
    for staged in segment.stage_rows(snapshot):
        storage.publish(staged)
    segment.mark_flushed()

    opened = LocalSegment.open(tmp_path / "1")
    assert opened.state is SegmentState.FLUSHED and not opened.is_resident
    ids, _, deleted = opened.ids_and_deletes()
    assert ids.tolist() == [1, 2, 3, 4] and deleted.tolist() == [False, True, False, False]
    opened.make_resident(opened.read_resident())
    np.testing.assert_array_equal(opened.snapshot().vectors, vectors)
    assert opened.resident_bytes == vectors.nbytes
    opened.evict()
    assert not opened.is_resident and opened.resident_bytes == 0


def test_replacing_an_index_removes_only_the_old_versions_files(tmp_path: Path) -> None:
    """A heartbeat dropping the stale index must not delete a newer one being loaded beside it."""
    segment = make_segment(tmp_path)
    old, new = (IndexSpec("vector", "HNSW", "L2", {"M": 8}, version=v) for v in (1, 2))
    for spec in (old, new):
        indexes.data_path(segment.directory, spec.version).write_bytes(b"index")
        indexes.save_spec(segment.directory, spec)
    segment.index_spec = old

    assert segment.drop_index(version=2) is None, "not the version in use: kept"
    assert segment.drop_index(version=1) == old and segment.index_spec is None
    indexes.remove_version(segment.directory, 1)
    assert sorted(p.name for p in segment.directory.glob("index-*")) == ["index-2.bin", "index-2.json"]
    assert indexes.newest_on_disk(segment.directory) == new

    indexes.data_path(segment.directory, 3).with_suffix(".bin.tmp").write_bytes(b"arriving")
    indexes.remove_older(segment.directory, 3)
    assert [p.name for p in segment.directory.glob("index-*")] == ["index-3.bin.tmp"]


def test_merge_topk_orders_by_metric_then_id_and_pads() -> None:
    ids = np.array([[7, 3, 9, -1], [1, 2, -1, -1]])
    distances = np.array([[0.5, 0.5, 0.1, np.nan], [2.0, 1.0, np.nan, np.nan]], dtype=np.float32)
    got_ids, got_distances = merge_topk(ids, distances, 3, METRICS["L2"])
    assert got_ids.tolist() == [[9, 3, 7], [2, 1, -1]]
    got_ids, _ = merge_topk(ids, distances, 2, METRICS["IP"])
    assert got_ids.tolist() == [[3, 7], [1, 2]]
