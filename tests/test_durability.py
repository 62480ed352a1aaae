"""Crashes: nothing acknowledged is lost when a data node, the coordinator or the standalone
cluster dies and comes back. Each test runs its own cluster, since it kills processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from datanode.storage import DATA_FILE
from quiver.standalone import free_port
from tests.cluster import TestCluster, V1Client, running

DIM = 8


@pytest.fixture
async def crash_cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    async with running(TestCluster(tmp_path, data_nodes=1)) as cluster:
        yield cluster


class Ledger:
    """What the client was told: every acknowledged id and its vector."""

    def __init__(self) -> None:
        self.vectors: dict[int, np.ndarray] = {}
        self.failures = 0
        self.next_id = 1

    def take_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids


async def writer(v1: V1Client, name: str, ledger: Ledger, stop: asyncio.Event, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        vectors = rng.standard_normal((50, DIM)).astype(np.float32)
        ids = ledger.take_ids(len(vectors))
        try:
            status, reply = await v1.request(
                "POST", f"/collections/{name}/vectors",
                {"vectors": vectors.tolist(), "ids": [str(i) for i in ids]},
            )
        except aiohttp.ClientError:
            status, reply = 0, None
        if status == 201:
            assert reply["ids"] == [str(i) for i in ids]
            ledger.vectors.update(zip(ids, vectors))
        else:
            ledger.failures += 1
            await asyncio.sleep(0.02)


async def assert_all_present(v1: V1Client, name: str, ledger: Ledger) -> None:
    ids = sorted(ledger.vectors)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        stored = await v1.get_vectors(name, chunk)
        missing = [i for i in chunk if not stored[i]]
        assert not missing, f"{len(missing)} acknowledged ids lost, e.g. {missing[:5]}"
        for i in chunk:
            np.testing.assert_array_equal(np.array(stored[i], dtype=np.float32), ledger.vectors[i])
    sample = ids[:: max(1, len(ids) // 50)]
    hits = await v1.search(name, np.stack([ledger.vectors[i] for i in sample]), 1)
    assert [h[0][0] for h in hits] == sample
    assert all(h[0][1] == 0.0 for h in hits)


async def retry_until_ok(action, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await action()
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_datanode_sigkill_during_concurrent_inserts_loses_no_acknowledged_row(
    crash_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, crash_cluster.v1_url)
    await v1.create_collection(name, DIM, index_file_size=1)
    ledger, stop = Ledger(), asyncio.Event()
    writers = [asyncio.create_task(writer(v1, name, ledger, stop, seed)) for seed in range(8)]
    await asyncio.sleep(1.5)
    acknowledged_before_kill = len(ledger.vectors)
    await crash_cluster.kill("datanode-1")
    await asyncio.sleep(1.0)
    acknowledged_while_down = len(ledger.vectors) - acknowledged_before_kill
    await crash_cluster.restart("datanode-1")
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*writers)

    assert acknowledged_before_kill > 0
    # Writes go to the log: they are acknowledged while the only data node is down, without
    # a failure, and served once it is back (replayed from its channel's checkpoint).
    assert acknowledged_while_down > 0, "inserts were acknowledged while the data node was down"
    assert ledger.failures == 0
    await retry_until_ok(lambda: assert_all_present(v1, name, ledger))
    await retry_until_ok(lambda: v1.flush(name))
    await assert_all_present(v1, name, ledger)
    count = (await v1.info(name))["count"]
    if ledger.failures:  # a failed insert may still have landed (stored, then the reply lost)
        assert count >= len(ledger.vectors)
    else:
        assert count == len(ledger.vectors), "every row exactly once"


async def test_restarted_coordinator_loses_nothing(
    crash_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, crash_cluster.v1_url)
    await v1.create_collection(name, DIM, "L2", index_file_size=7)
    ledger = Ledger()
    vectors = np.random.default_rng(1).standard_normal((500, DIM)).astype(np.float32)
    ids = await v1.insert(name, vectors)
    ledger.vectors.update(zip(ids, vectors))

    await crash_cluster.kill("coordinator")
    await crash_cluster.restart("coordinator")
    await crash_cluster.wait_until_serving()

    info = await v1.info(name)
    assert (info["dimension"], info["metric_type"], info["index_file_size"]) == (DIM, "L2", 7)
    await assert_all_present(v1, name, ledger)
    more = np.random.default_rng(2).standard_normal((100, DIM)).astype(np.float32)
    more_ids = await v1.insert(name, more)
    assert min(more_ids) > max(ids), "ids stay unique and time-ordered across coordinator restarts"
    ledger.vectors.update(zip(more_ids, more))
    await v1.flush(name)
    assert (await v1.info(name))["count"] == 600
    await assert_all_present(v1, name, ledger)


async def start_standalone(
    data_dir: Path, v1_port: int, http_port: int, log_path: Path
) -> asyncio.subprocess.Process:
    with open(log_path, "ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "quiver.cli", "standalone", "--data-dir", str(data_dir),
            "--v1-port", str(v1_port), "--http-port", str(http_port),
            stdout=asyncio.subprocess.PIPE, stderr=log,
        )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=90)
    assert line.startswith(b"Quiver is ready"), line
    return process


async def stop_standalone(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), timeout=60)


async def test_restarted_standalone_serves_everything_it_had(
    tmp_path: Path, http: aiohttp.ClientSession, name: str
) -> None:
    data_dir, v1_port, http_port = tmp_path / "data", free_port(), free_port()
    log_path = tmp_path / "standalone.log"
    v1 = V1Client(http, f"http://127.0.0.1:{v1_port}")
    process = await start_standalone(data_dir, v1_port, http_port, log_path)
    try:
        await v1.create_collection(name, DIM, "L2", index_file_size=1)
        vectors = np.random.default_rng(4).standard_normal((2000, DIM)).astype(np.float32)
        flushed_ids = await v1.insert(name, vectors[:1000])
        await v1.flush(name)
        growing_ids = await v1.insert(name, vectors[1000:])  # only in the log
        assert len(list((data_dir / "run").glob("*.json"))) == 5  # every role's ready file
    finally:
        await stop_standalone(process)
    assert process.returncode == 0
    assert list((data_dir / "run").glob("*.json")) == [], "a clean stop removes every role's ready file"

    process = await start_standalone(data_dir, v1_port, http_port, log_path)
    try:
        ledger = Ledger()
        ledger.vectors.update(zip(flushed_ids + growing_ids, vectors))
        await assert_all_present(v1, name, ledger)
        await v1.flush(name)
        assert (await v1.info(name))["count"] == 2000

        # The supervisor restarts a role that dies, and the role comes back with its data.
        ready_file = data_dir / "run" / "datanode-1.json"
        old_pid = json.loads(ready_file.read_text())["pid"]
        os.kill(old_pid, signal.SIGKILL)
        for _ in range(200):
            await asyncio.sleep(0.1)
            if ready_file.exists() and json.loads(ready_file.read_text())["pid"] != old_pid:
                break
        else:
            raise AssertionError("the standalone supervisor did not restart the data node")
        await retry_until_ok(lambda: assert_all_present(v1, name, ledger))
        assert "datanode-1 restarted" in log_path.read_text()
    finally:
        await stop_standalone(process)


async def test_segments_of_a_collection_dropped_while_their_node_was_down_are_removed(
    crash_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, crash_cluster.v1_url)
    await v1.create_collection(name, DIM)
    await v1.insert(name, np.ones((10, DIM), dtype=np.float32))
    await v1.flush(name)
    segments_dir = crash_cluster.root / "datanode-1" / "segments"
    assert any(segments_dir.iterdir())

    await crash_cluster.kill("datanode-1")
    status, _ = await v1.request("DELETE", f"/collections/{name}")
    assert status == 204
    await crash_cluster.restart("datanode-1")  # learns at registration that they are gone

    assert not any(segments_dir.iterdir())
    status, _ = await v1.request("GET", f"/collections/{name}")
    assert status == 404


async def test_compacted_data_survives_a_crash(
    crash_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, crash_cluster.v1_url)
    await v1.create_collection(name, DIM)
    vectors = np.random.default_rng(6).standard_normal((300, DIM)).astype(np.float32)
    for start in range(0, 300, 100):
        await v1.insert(name, vectors[start : start + 100], list(range(start, start + 100)))
        await v1.flush(name)
    gone = [str(i) for i in range(0, 300, 3)]
    await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": gone}})  # in the log only
    status, _ = await v1.request("PUT", "/system/task", {"compact": {"collection_name": name}})
    assert status == 200
    more_gone = [str(i) for i in range(1, 300, 3)]
    await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": more_gone}})

    await crash_cluster.kill("datanode-1")
    await crash_cluster.restart("datanode-1")

    ledger = Ledger()
    ledger.vectors.update((i, vectors[i]) for i in range(2, 300, 3))
    await retry_until_ok(lambda: assert_all_present(v1, name, ledger))
    stored = await v1.get_vectors(name, [int(i) for i in gone[:20] + more_gone[:20]])
    assert not any(stored.values()), "deleted rows stay deleted"
    await retry_until_ok(lambda: v1.flush(name))
    assert (await v1.info(name))["count"] == 100


async def test_a_node_with_a_cut_segment_file_sets_it_aside_and_restores_it_from_the_bucket(
    crash_cluster: TestCluster, http: aiohttp.ClientSession
) -> None:
    v1 = V1Client(http, crash_cluster.v1_url)
    vectors = np.random.default_rng(8).standard_normal((200, DIM)).astype(np.float32)
    for name in ("kept", "damaged"):
        await v1.create_collection(name, DIM)
        await v1.insert(name, vectors, list(range(1, 201)))
        await v1.flush(name)
    [segment] = (await v1.stat("damaged"))["partitions"][0]["segments"]
    node = crash_cluster.data_nodes[0]
    rows_file = crash_cluster.root / node.name / "segments" / segment["name"] / DATA_FILE
    await crash_cluster.kill(node.name)
    size = rows_file.stat().st_size
    os.truncate(rows_file, int(np.random.default_rng(9).integers(1, size)))  # a random byte: power cut

    await crash_cluster.restart(node.name)
    assert (crash_cluster.root / node.name / "damaged" / segment["name"]).is_dir()
    assert "is damaged" in node.log_path.read_text()
    await retry_until_ok(lambda: _all_found(v1, "kept", vectors))
    await retry_until_ok(lambda: _all_found(v1, "damaged", vectors))  # the bucket's copy
    assert [s["row_count"] for s in (await v1.stat("damaged"))["partitions"][0]["segments"]] == [200]


async def _all_found(v1: V1Client, name: str, vectors: np.ndarray) -> None:
    hits = await v1.search(name, vectors[:5], 1)
    assert [h[0][0] for h in hits] == [1, 2, 3, 4, 5]
