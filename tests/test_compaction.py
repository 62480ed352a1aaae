"""Compaction: rows, ids and answers unchanged, deleted rows gone from disk, crash-safe."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import numpy as np
import pyarrow as pa

from datanode import storage
from datanode.compaction import carry_new_deletes, finish_interrupted, stage_compacted
from datanode.segments import LocalSegment
from datanode.storage import SegmentMeta
from quiver import segmentfile
from quiver.schema import SegmentState, vector_collection
from tests.cluster import TestCluster, V1Client, metric_sample

DIM = 8


def write_compacted(meta: SegmentMeta, directory: Path, taken: list[tuple[LocalSegment, np.ndarray]]) -> LocalSegment:
    """A compaction's output as the data node publishes it once uploaded."""
    for staged in stage_compacted(meta, directory, taken):
        storage.publish(staged)
    return LocalSegment.open(directory)


def ids_on_disk(cluster: TestCluster, segment: str) -> set[int]:
    for node in cluster.data_nodes:
        path = cluster.root / node.name / "segments" / segment / "data.arrow"
        if path.exists():
            with pa.memory_map(str(path)) as source:
                return set(pa.ipc.open_file(source).read_all().column(segmentfile.ID_COLUMN).to_pylist())
    raise AssertionError(f"segment {segment} has no file")


async def segment_listing(v1: V1Client, name: str) -> list[dict]:
    status, listing = await v1.request("GET", f"/collections/{name}/segments?page_size=100")
    assert status == 200
    return listing["segments"]


async def test_compact_keeps_rows_ids_and_answers_and_removes_deleted_rows(
    v1: V1Client, cluster: TestCluster, name: str
) -> None:
    rng = np.random.default_rng(47)
    await v1.create_collection(name, DIM)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    for start in range(0, 300, 100):  # three small segments
        await v1.insert(name, vectors[start : start + 100], list(range(start, start + 100)))
        await v1.flush(name)
    deleted = list(range(0, 300, 7))
    status, _ = await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": [str(i) for i in deleted]}})
    assert status == 200
    await v1.flush(name)
    before = await segment_listing(v1, name)
    assert len(before) == 3
    assert any(set(deleted) & ids_on_disk(cluster, s["name"]) for s in before), "deletes are flags until compaction"
    queries = rng.standard_normal((20, DIM)).astype(np.float32)
    answers = await v1.search(name, queries, 10)
    count = (await v1.info(name))["count"]

    status, reply = await v1.request("PUT", "/system/task", {"compact": {"collection_name": name}})
    assert (status, reply) == (200, {"code": 0, "message": "OK"})

    after = await segment_listing(v1, name)
    by_node: dict[str, int] = {}
    for segment in after:  # one segment per data node that held any (merged and rewritten)
        by_node[segment["name"]] = segment["row_count"]
    assert len(after) <= 2 and sum(by_node.values()) == count == 300 - len(deleted)
    assert (await v1.info(name))["count"] == count
    assert await v1.search(name, queries, 10) == answers
    live = sorted(set(range(300)) - set(deleted))
    listed: list[int] = []
    for segment in after:
        status, ids = await v1.request("GET", f"/collections/{name}/segments/{segment['name']}/ids?page_size=1000")
        listed += [int(i) for i in ids["ids"]]
        assert not set(deleted) & ids_on_disk(cluster, segment["name"]), "deleted rows are gone from disk"
    assert sorted(listed) == live
    stored = await v1.get_vectors(name, live[:50] + deleted[:5])
    assert all(stored[i] for i in live[:50]) and not any(stored[i] for i in deleted[:5])
    np.testing.assert_array_equal(np.array(stored[live[3]], dtype=np.float32), vectors[live[3]])


async def test_compact_errors(v1: V1Client) -> None:
    for body, code in (({"compact": {}}, 34), ({"compact": {"collection_name": 5}}, 34),
                       ({"compact": {"collection_name": "no_such_collection"}}, 4)):
        status, reply = await v1.request("PUT", "/system/task", body)
        assert (status, reply["code"]) == (400, code)


async def test_segments_worth_it_are_compacted_unasked(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """The coordinator compacts a segment with a fifth of its rows deleted, and merges four
    small ones, without being asked; a segment with fewer deletes is left alone."""
    cluster = TestCluster(tmp_path, data_nodes=1, index_nodes=0, auto_compact_s=0.5)
    await cluster.start()
    try:
        v1 = V1Client(http, cluster.v1_url)
        rng = np.random.default_rng(48)
        vectors = rng.standard_normal((1000, DIM)).astype(np.float32)
        for name, deleted in (("mostly_kept", range(0, 1000, 20)), ("churned", range(0, 1000, 4))):
            await v1.create_collection(name, DIM)
            await v1.insert(name, vectors, list(range(1000)))
            await v1.flush(name)
            status, _ = await v1.request("PUT", f"/collections/{name}/vectors",
                                         {"delete": {"ids": [str(i) for i in deleted]}})
            assert status == 200
        await v1.create_collection("fragmented", DIM)
        for start in range(0, 1000, 250):  # four small segments
            await v1.insert("fragmented", vectors[start : start + 250], list(range(start, start + 250)))
            await v1.flush("fragmented")
        kept = (await segment_listing(v1, "mostly_kept"))[0]["name"]
        churned = (await segment_listing(v1, "churned"))[0]["name"]

        for _ in range(100):
            layout = {name: await segment_listing(v1, name) for name in ("mostly_kept", "churned", "fragmented")}
            if layout["churned"][0]["name"] != churned and len(layout["fragmented"]) == 1:
                break
            await asyncio.sleep(0.2)
        assert [s["name"] for s in layout["mostly_kept"]] == [kept]
        (compacted,) = layout["churned"]
        assert compacted["row_count"] == 750 and not set(range(0, 1000, 4)) & ids_on_disk(cluster, compacted["name"])
        assert [s["row_count"] for s in layout["fragmented"]] == [1000]
        queries = rng.standard_normal((5, DIM)).astype(np.float32)
        for name, live in (("churned", sorted(set(range(1000)) - set(range(0, 1000, 4)))), ("fragmented", list(range(1000)))):
            distances = ((queries[:, None, :] - vectors[None, live, :]) ** 2).sum(axis=2)
            expected = [[live[j] for j in np.argsort(row, kind="stable")[:5]] for row in distances]
            assert [[i for i, _ in hits] for hits in await v1.search(name, queries, 5)] == expected
    finally:
        await cluster.stop()


async def test_a_flushed_segment_mostly_deleted_is_compacted_before_it_is_indexed(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Steady upserts seal segments whose rows are mostly replaced already: with automatic
    compaction on, such a segment is compacted at once and only the result is indexed."""
    cluster = TestCluster(tmp_path, data_nodes=1, index_nodes=1, auto_compact_s=60)  # only the flush prompts it
    await cluster.start()
    try:
        v1 = V1Client(http, cluster.v1_url)
        await v1.create_collection("upserted", DIM)
        status, reply = await v1.request("POST", "/collections/upserted/indexes",
                                         {"index_type": "IVFFLAT", "params": {"nlist": 16}})
        assert status == 201, reply
        vectors = np.random.default_rng(49).standard_normal((10_000, DIM)).astype(np.float32)
        await v1.insert("upserted", vectors, list(range(10_000)))
        status, _ = await v1.request("PUT", "/collections/upserted/vectors",
                                     {"delete": {"ids": [str(i) for i in range(5_500)]}})
        assert status == 200
        await v1.flush("upserted")  # sealed with 55% of its rows deleted

        for _ in range(150):
            listing = await segment_listing(v1, "upserted")
            if [(s["row_count"], s["index_name"]) for s in listing] == [(4_500, "IVFFLAT")]:
                break
            await asyncio.sleep(0.2)
        assert [(s["row_count"], s["index_name"]) for s in listing] == [(4_500, "IVFFLAT")]
        index_node = await cluster.metrics(http, "indexnode-1")
        builds = {outcome: metric_sample(index_node, "quiver_index_builds_total", outcome=outcome)
                  for outcome in ("finished", "failed", "postponed")}
        assert builds == {"finished": 1, "failed": 0, "postponed": 0}, "one build, on the compacted rows"
        queries = vectors[5_500:5_505] + 0.001
        assert [hits[0][0] for hits in await v1.search("upserted", queries, 1, params={"nprobe": 16})] == \
            list(range(5_500, 5_505))
    finally:
        await cluster.stop()


SCHEMA = vector_collection("c", 2, "L2", 1).schema


def flushed_segment(directory: Path, segment_id: int, ids: list[int], lsn: int = 1) -> LocalSegment:
    meta = SegmentMeta(segment_id, 1, 2, SCHEMA, seal_bytes=1 << 20)
    segment = LocalSegment.create(meta, directory / str(segment_id))
    segment.append(np.array(ids), np.arange(2 * len(ids), dtype=np.float32).reshape(-1, 2), None, lsn)
    segment.state = SegmentState.SEALED
    snapshot, _ = segment.begin_persist()
    for staged in segment.stage_rows(snapshot):
        storage.publish(staged)
    segment.mark_flushed()
    return segment


def test_deletes_made_during_a_compaction_reach_the_new_segment(tmp_path: Path) -> None:
    first, second = flushed_segment(tmp_path, 10, [1, 2, 3]), flushed_segment(tmp_path, 11, [4, 5])
    first.delete(np.array([1]), lsn=5)
    taken = [(s, s.ids_and_deletes()[2].copy()) for s in (first, second)]
    meta = SegmentMeta(12, 1, 2, SCHEMA, 1 << 20, replaces=(10, 11))
    compacted = write_compacted(meta, tmp_path / "12", taken)
    first.delete(np.array([3]), lsn=6)  # while the new segment was being written
    second.delete(np.array([4]), lsn=6)
    carry_new_deletes(compacted, taken)
    ids, _, deleted = compacted.ids_and_deletes()
    assert ids.tolist() == [2, 3, 4, 5]
    assert ids[~deleted].tolist() == [2, 5]
    assert compacted.unpersisted_deletes_lsn == 0, "the checkpoint stays put until the deletes are uploaded"


def test_a_crash_mid_compaction_is_settled_on_restart(tmp_path: Path) -> None:
    flushed_segment(tmp_path, 20, [1, 2])
    flushed_segment(tmp_path, 21, [3])
    done = SegmentMeta(22, 1, 2, SCHEMA, 1 << 20, replaces=(20, 21))
    write_compacted(done, tmp_path / "22", [(LocalSegment.open(tmp_path / "20"), np.zeros(2, bool)),
                                             (LocalSegment.open(tmp_path / "21"), np.zeros(1, bool))])
    flushed_segment(tmp_path, 30, [7])
    unfinished = SegmentMeta(31, 1, 2, SCHEMA, 1 << 20, replaces=(30,))
    storage.write_meta(tmp_path / "31", unfinished)  # crashed before its rows file existed

    finish_interrupted(sorted(p for p in tmp_path.iterdir()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["22", "30"]
