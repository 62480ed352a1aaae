"""Faults under load: while clients insert, delete and search without pause, one process at a
time is killed with SIGKILL and started again, round after round (seeded): a data node, an index
node in the middle of a build, the coordinator, the proxy, and Redis (back from its append-only
file). After each round the cluster must serve again by itself within seconds; at the end every
acknowledged row is there exactly once, every acknowledged delete holds, every index finished,
and the rows match the client's ledger."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from tests.cluster import TestCluster, V1Client, V2Client

pytestmark = pytest.mark.faults

SEED = 20261121
ROUNDS = 20
VICTIMS = ("datanode-1", "datanode-2", "indexnode-1", "coordinator", "proxy", "redis")
DIM = 16
RECOVERY_S = 30.0
COLLECTION = "faults"


@dataclass
class Ledger:
    """What the clients were told. A request that failed may still have been applied (the
    reply was lost), so its ids are only `maybe` inserted or deleted."""

    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # acknowledged inserts
    maybe_inserted: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)  # acknowledged deletes
    maybe_deleted: set[int] = field(default_factory=set)
    next_id: int = 1
    failed_searches: int = 0

    def fresh_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    def live(self) -> set[int]:
        return set(self.vectors) - self.deleted - self.maybe_deleted


@pytest.fixture
async def fault_cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    running = TestCluster(tmp_path, data_nodes=2, index_min_rows=1000)
    try:
        await running.start()
        yield running
    except BaseException:
        print(running.log_tail(80))
        raise
    finally:
        await running.stop()


async def request(v1: V1Client, method: str, path: str, body: object) -> tuple[int, object]:
    try:
        return await asyncio.wait_for(v1.request(method, path, body), timeout=20)
    except (aiohttp.ClientError, TimeoutError):
        return 0, None


async def writer(v1: V1Client, ledger: Ledger, stop: asyncio.Event, rng: np.random.Generator) -> None:
    while not stop.is_set():
        ids = ledger.fresh_ids(50)
        vectors = rng.standard_normal((50, DIM)).astype(np.float32)
        status, _ = await request(v1, "POST", f"/collections/{COLLECTION}/vectors",
                                  {"vectors": vectors.tolist(), "ids": [str(i) for i in ids]})
        if status == 201:
            ledger.vectors.update(zip(ids, vectors))
        else:
            ledger.maybe_inserted.update(ids)
            await asyncio.sleep(0.05)


async def deleter(v1: V1Client, ledger: Ledger, stop: asyncio.Event, rng: random.Random) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.2)
        live = sorted(ledger.live())
        if len(live) < 100:
            continue
        ids = rng.sample(live, 10)
        status, _ = await request(v1, "PUT", f"/collections/{COLLECTION}/vectors", {"delete": {"ids": [str(i) for i in ids]}})
        (ledger.deleted if status == 200 else ledger.maybe_deleted).update(ids)


async def searcher(v1: V1Client, ledger: Ledger, stop: asyncio.Event, rng: random.Random) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.05)
        if not ledger.vectors:
            continue
        query = ledger.vectors[rng.choice(list(ledger.vectors))]
        status, _ = await request(v1, "PUT", f"/collections/{COLLECTION}/vectors",
                                  {"search": {"topk": 5, "vectors": [query.tolist()], "params": {"nprobe": 8}}})
        if status != 200:
            ledger.failed_searches += 1


async def recovered(v1: V1Client, ledger: Ledger, rng: np.random.Generator) -> float:
    """Seconds until a fresh row can be written and found again."""
    started = time.monotonic()
    ids = ledger.fresh_ids(1)
    vector = rng.standard_normal((1, DIM)).astype(np.float32)
    written, last = False, None
    while time.monotonic() - started < RECOVERY_S:
        if not written:
            status, _ = await request(v1, "POST", f"/collections/{COLLECTION}/vectors",
                                      {"vectors": vector.tolist(), "ids": [str(ids[0])]})
            written, last = status == 201, (status, _)
            if written:
                ledger.vectors[ids[0]] = vector[0]
        if written:
            status, reply = await request(v1, "PUT", f"/collections/{COLLECTION}/vectors",
                                          {"search": {"topk": 1, "vectors": vector.tolist(), "params": {"nprobe": 8}}})
            if status == 200 and reply["results"][0] and reply["results"][0][0]["id"] == str(ids[0]):  # type: ignore[index]
                return time.monotonic() - started
            last = (status, reply)
        await asyncio.sleep(0.2)
    if not written:
        ledger.maybe_inserted.update(ids)
    raise AssertionError(f"the cluster did not serve again within {RECOVERY_S:.0f}s: last answer {last}")


async def stored_ids(v2: V2Client, below: int) -> Counter[int]:
    """Every row's id as stored, counted (a row stored twice counts 2): by ranges of ids, as a
    query returns at most 16,384 rows."""
    found: Counter[int] = Counter()
    for low in range(0, below, 8000):
        rows = await v2.ok("entities/query", {"collectionName": COLLECTION, "filter": f"id >= {low} and id < {low + 8000}",
                                              "outputFields": ["id"], "limit": 16384})
        found.update(int(r["id"]) for r in rows)
    return found


async def test_every_acknowledged_write_survives_kills_of_any_process(
    fault_cluster: TestCluster, http: aiohttp.ClientSession
) -> None:
    v1, v2 = V1Client(http, fault_cluster.v1_url), V2Client(http, fault_cluster.http_url)
    rng, np_rng = random.Random(SEED), np.random.default_rng(SEED - 1)  # probes unlike any written row
    await v1.create_collection(COLLECTION, DIM, index_file_size=1)  # 1 MB: many segments seal
    status, reply = await v1.request("POST", f"/collections/{COLLECTION}/indexes",
                                     {"index_type": "IVFFLAT", "params": {"nlist": 16}})
    assert status == 201, reply
    ledger, stop = Ledger(), asyncio.Event()
    load = [asyncio.create_task(writer(v1, ledger, stop, np.random.default_rng(SEED + i))) for i in range(4)]
    load += [asyncio.create_task(deleter(v1, ledger, stop, random.Random(SEED))),
             asyncio.create_task(searcher(v1, ledger, stop, random.Random(SEED + 1)))]
    victims = [VICTIMS[i % len(VICTIMS)] for i in range(ROUNDS)]
    rng.shuffle(victims)
    recoveries, builds = [], []
    try:
        await asyncio.sleep(2.0)
        for victim in victims:
            if victim.startswith("indexnode"):  # mid-build: a new index version to build
                builds.append(asyncio.create_task(request(v1, "POST", f"/collections/{COLLECTION}/indexes",
                                                          {"index_type": "IVFFLAT", "params": {"nlist": rng.choice([8, 16, 32])}})))
                await asyncio.sleep(0.3)
            await fault_cluster.kill(victim)
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            await fault_cluster.restart(victim)
            try:
                recoveries.append(await recovered(v1, ledger, np_rng))
            except AssertionError as error:
                raise AssertionError(f"round {len(recoveries) + 1} ({victim} killed): {error}\n"
                                     f"{fault_cluster.log_tail(30)}") from None
            await asyncio.sleep(rng.uniform(0.5, 1.5))
        await asyncio.gather(*builds)
    finally:
        stop.set()
        await asyncio.gather(*load)

    print(f"{ROUNDS} rounds, recovered in {max(recoveries):.1f}s at worst; {len(ledger.vectors)} rows and "
          f"{len(ledger.deleted)} deletes acknowledged, {len(ledger.maybe_inserted)} inserts and "
          f"{len(ledger.maybe_deleted)} deletes unsure, {ledger.failed_searches} searches failed")
    assert len(ledger.vectors) > 1000 and ledger.deleted

    found = await stored_ids(v2, ledger.next_id)
    twice = [i for i, n in found.items() if n > 1]
    assert not twice, f"{len(twice)} ids stored more than once, e.g. {twice[:5]}"
    missing = ledger.live() - set(found)
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    resurrected = ledger.deleted & set(found)
    assert not resurrected, f"{len(resurrected)} acknowledged deletes undone, e.g. {sorted(resurrected)[:5]}"
    unknown = set(found) - set(ledger.vectors) - ledger.maybe_inserted
    assert not unknown, f"{len(unknown)} rows nobody wrote, e.g. {sorted(unknown)[:5]}"
    sample = rng.sample(sorted(ledger.live()), 200)
    stored = await v1.get_vectors(COLLECTION, sample)
    for i in sample:
        np.testing.assert_array_equal(np.array(stored[i], dtype=np.float32), ledger.vectors[i])

    await v1.flush(COLLECTION)
    deadline = time.monotonic() + 60
    while True:  # every index build, killed or not, finishes
        (index,) = await v2.ok("indexes/describe", {"collectionName": COLLECTION, "indexName": "vector"})
        if index["indexState"] == "Finished" and index["pendingRows"] == 0:
            break
        assert time.monotonic() < deadline, f"index builds did not finish: {index}"
        await asyncio.sleep(0.5)
    assert (await v1.info(COLLECTION))["count"] == len(found)
