"""Soak: half of the cluster's measured capacity of mixed reads and writes for 30 minutes, with
no error and resident memory growing under 10%. The writes are upserts over a fixed set of keys,
so the data itself does not grow: the coordinator's automatic compaction takes the replaced rows
away, and an operator's compaction runs every few minutes too. Memory is compared at the same
point of that cycle at both ends, at rest: after a flush (which seals the growing segment, up to
64 MB of rows at any moment), a compaction, the index builds they start (an index node holds a
build's vectors and index while it runs), and long enough after them for every role to have
handed the memory they freed back to the system. The baseline comes after a warm-up of one full
segment cycle. The cluster keeps the production timings (heartbeats every second, nodes down
after 4 s, automatic compaction every minute). Opt-in:

    pytest -m soak -s tests/test_soak.py        (QUIVER_SOAK_MINUTES shortens or lengthens it)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import psutil
import pytest

from quiver.runtime import FREE_MEMORY_INTERVAL_S
from quiver.schema import GROWING_SEGMENT_MAX_BYTES
from tests.cluster import TestCluster, V1Client, V2Client

MINUTES = float(os.environ.get("QUIVER_SOAK_MINUTES", "30"))
# The run itself, plus start-up, the capacity probe, the warm-up and the final checks.
pytestmark = [pytest.mark.soak, pytest.mark.timeout(MINUTES * 60 + 1500)]
COMPACT_EVERY_MINUTES = 5
DIM = 64
KEYS = 50_000
COLLECTION = "soak"
INDEX_MIN_ROWS = 4096  # smaller segments are searched without an index
DATA_NODES = 2
UPSERT_EVERY, ROWS_PER_UPSERT = 10, 100  # one request in ten upserts this many rows


@pytest.fixture
async def soak_cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    running = TestCluster(tmp_path, data_nodes=DATA_NODES, heartbeat_s=1.0, node_ttl_s=4.0, auto_compact_s=60.0,
                          index_min_rows=INDEX_MIN_ROWS)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def resident_by_process(cluster: TestCluster) -> dict[str, int]:
    """Resident bytes of Redis and each role process, by name."""
    children = [cluster.redis, *cluster.roles.values()]
    return {c.name: psutil.Process(c.process.pid).memory_info().rss for c in children if c.process is not None}


class Traffic:
    """Nine searches to each upsert of 100 rows (REST v2), paced to `rate` requests a second."""

    def __init__(self, v2: V2Client) -> None:
        self.v2 = v2
        self.rng = np.random.default_rng(5)
        self.queries = self.rng.standard_normal((256, DIM)).astype(np.float32)
        self.sent = self.errors = 0
        self.error_samples: list[str] = []

    def rows(self, start: int, count: int) -> list[dict]:
        vectors = self.rng.standard_normal((count, DIM)).astype(np.float32)
        return [{"id": (start + i) % KEYS, "vector": v.tolist()} for i, v in enumerate(vectors)]

    async def one(self) -> None:
        self.sent += 1
        if self.sent % UPSERT_EVERY == 0:
            path = "entities/upsert"
            start = int(self.rng.integers(KEYS))
            body: dict = {"collectionName": COLLECTION, "data": self.rows(start, ROWS_PER_UPSERT)}
        else:
            path = "entities/search"
            body = {"collectionName": COLLECTION, "data": [self.queries[self.sent % 256].tolist()], "limit": 10}
        try:
            status, reply = await self.v2.post(path, body)
            failed = status != 200 or reply.get("code") != 0
        except aiohttp.ClientError as error:
            failed, reply = True, repr(error)
        if failed:
            self.errors += 1
            self.error_samples = (self.error_samples + [str(reply)[:300]])[-5:]

    async def run(self, rate: float, seconds: float, concurrency: int = 32) -> float:
        """Sends at `rate`/s (or as fast as it can when rate is 0); returns the rate achieved."""
        started, deadline = time.monotonic(), time.monotonic() + seconds
        count = 0

        async def worker() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                if rate and count >= (time.monotonic() - started) * rate:
                    await asyncio.sleep(0.005)
                    continue
                count += 1
                await self.one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.monotonic() - started)


def warm_up_s(rate: float) -> float:
    """Seconds of traffic before the memory baseline: long enough for every data node to fill a
    growing segment to its seal size once, and to seal, compact and index it. That cycle is what
    sets a node's working memory (its buffers and the heap they leave), so a baseline taken
    before it would count reaching the steady state as growth."""
    rows_per_node_s = rate / UPSERT_EVERY * ROWS_PER_UPSERT / DATA_NODES
    return max(120.0, 1.25 * GROWING_SEGMENT_MAX_BYTES / (DIM * 4) / rows_per_node_s)


async def compact(v1: V1Client) -> None:
    status, reply = await v1.request("PUT", "/system/task", {"compact": {"collection_name": COLLECTION}})
    assert status == 200, reply


async def settle(v1: V1Client) -> None:
    """Flushes, compacts, waits until the segments compaction wrote are indexed, then lets every
    role finish what those steps started and hand the memory they freed back (roles do that
    every FREE_MEMORY_INTERVAL_S), so both ends measure memory at rest."""
    await v1.flush(COLLECTION)
    await compact(v1)
    for _ in range(600):
        status, listing = await v1.request("GET", f"/collections/{COLLECTION}/segments?page_size=1000")
        assert status == 200, listing
        if all(s["index_name"] == "HNSW" for s in listing["segments"] if s["row_count"] >= INDEX_MIN_ROWS):
            await asyncio.sleep(FREE_MEMORY_INTERVAL_S + 5)
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"segments still unindexed two minutes after a compaction: {listing}")


async def test_half_capacity_for_half_an_hour(soak_cluster: TestCluster, http: aiohttp.ClientSession) -> None:
    v1, v2 = V1Client(http, soak_cluster.v1_url), V2Client(http, soak_cluster.http_url)
    schema = {"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                         {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]}
    await v2.ok("collections/create", {"collectionName": COLLECTION, "schema": schema, "indexParams": [
        {"fieldName": "vector", "indexType": "HNSW", "metricType": "L2", "params": {"M": 16, "efConstruction": 100}}]})
    traffic = Traffic(v2)
    for start in range(0, KEYS, 2000):
        await v2.ok("entities/insert", {"collectionName": COLLECTION, "data": traffic.rows(start, 2000)})
    await v1.flush(COLLECTION)
    capacity = await traffic.run(rate=0, seconds=20)
    rate = capacity / 2
    print(f"soak: capacity {capacity:.0f} req/s; warming up for {warm_up_s(rate):.0f} s", flush=True)
    await traffic.run(rate, warm_up_s(rate))
    await settle(v1)
    traffic.errors, sent_before = 0, traffic.sent
    baseline = resident_by_process(soak_cluster)
    samples = []
    for minute in range(1, max(1, int(MINUTES)) + 1):
        await traffic.run(rate, min(60.0, MINUTES * 60))
        if minute == int(MINUTES):
            await settle(v1)
        elif minute % COMPACT_EVERY_MINUTES == 0:
            await compact(v1)
        samples.append(resident_by_process(soak_cluster))
        print(f"soak minute {minute}: {traffic.errors} errors; resident MB "
              + ", ".join(f"{name} {rss / 2**20:.0f}" for name, rss in samples[-1].items()), flush=True)
    totals = [sum(sample.values()) for sample in samples]
    growth = totals[-1] / sum(baseline.values()) - 1
    print(f"soak: capacity {capacity:.0f} req/s; {MINUTES:.0f} min at {rate:.0f} req/s "
          f"({traffic.sent - sent_before} requests), {traffic.errors} errors; resident memory "
          f"{sum(baseline.values()) / 2**20:.0f} MB -> {totals[-1] / 2**20:.0f} MB ({growth:+.1%}), "
          f"peak {max(totals) / 2**20:.0f} MB")
    print("soak: resident MB by process, start -> end: " + ", ".join(
        f"{name} {baseline[name] / 2**20:.0f} -> {samples[-1][name] / 2**20:.0f}" for name in baseline))
    assert traffic.errors == 0, traffic.error_samples
    assert growth < 0.10
