"""Faults under load, on the storage design: three data nodes, a three-node JetStream cluster
holding the log with three replicas, and SeaweedFS holding sealed segments and indexes.

While clients insert, delete and search, one process at a time is killed with SIGKILL, round
after round (seeded): a data node, whose data directory is deleted as well (its machine is lost
with its disk), one JetStream node, an index node in the middle of a build, the coordinator, the
proxy, or Redis (back from its append-only file). A lost data node's channels and segments must
be served again within 10 s (by another node, or by itself restored from the bucket and the log).
After every round the client's ledger is checked: every acknowledged id is there exactly once,
every acknowledged delete holds, and searches return the exact top-k of what is stored."""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from tests.cluster import TestCluster, V1Client, V2Client, create_sharded_collection, running, stored_ids
from tests.reference import float_distances

pytestmark = pytest.mark.faults

SEED = 20261203
ROUNDS = 20
VICTIMS = (
    "datanode-1", "datanode-2", "datanode-3", "nats-1", "nats-2", "nats-3",
    "indexnode-1", "coordinator", "proxy", "redis",
)
DIM = 16
SHARDS = 3
SERVED_AGAIN_S = 10.0  # a lost data node's (or log node's) share is served again within this
RECOVERY_S = 30.0  # the coordinator, Redis, the proxy: restarted and serving again
EXACT_NPROBE = 64  # at least every nlist the index is built with: IVF searches every list, exactly
COLLECTION = "faults"


@dataclass
class Ledger:
    """What the clients were told. A request that failed may still have been applied (the
    reply was lost), so its ids are only `maybe` inserted or deleted."""

    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # every row ever sent
    acknowledged: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)  # acknowledged deletes
    maybe_deleted: set[int] = field(default_factory=set)
    next_id: int = 1
    failed_searches: int = 0

    def fresh_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    def live(self) -> set[int]:
        return self.acknowledged - self.deleted - self.maybe_deleted


@pytest.fixture
async def fault_cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    async with running(TestCluster(tmp_path, data_nodes=3, log_nodes=3, index_min_rows=1000), log_lines=80) as cluster:
        yield cluster


async def request(v1: V1Client, method: str, path: str, body: object) -> tuple[int, object]:
    try:
        return await asyncio.wait_for(v1.request(method, path, body), timeout=20)
    except (aiohttp.ClientError, TimeoutError):
        return 0, None


async def writer(v1: V1Client, ledger: Ledger, stop: asyncio.Event, rng: np.random.Generator) -> None:
    while not stop.is_set():
        ids = ledger.fresh_ids(50)
        vectors = rng.standard_normal((50, DIM)).astype(np.float32)
        ledger.vectors.update(zip(ids, vectors))
        status, _ = await request(v1, "POST", f"/collections/{COLLECTION}/vectors",
                                  {"vectors": vectors.tolist(), "ids": [str(i) for i in ids]})
        if status == 201:
            ledger.acknowledged.update(ids)
        else:
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
        if not ledger.acknowledged:
            continue
        query = ledger.vectors[rng.choice(sorted(ledger.acknowledged))]
        status, _ = await request(v1, "PUT", f"/collections/{COLLECTION}/vectors",
                                  {"search": {"topk": 5, "vectors": [query.tolist()], "params": {"nprobe": 8}}})
        if status != 200:
            ledger.failed_searches += 1


async def served_again(v1: V1Client, ledger: Ledger, rng: np.random.Generator, within_s: float, started: float) -> float:
    """Seconds from `started` until a fresh row can be written and found again."""
    vector = rng.standard_normal((1, DIM)).astype(np.float32)
    written_id, last = None, None
    while time.monotonic() - started < within_s:
        if written_id is None:
            [fresh] = ledger.fresh_ids(1)
            ledger.vectors[fresh] = vector[0]
            status, reply = await request(v1, "POST", f"/collections/{COLLECTION}/vectors",
                                          {"vectors": vector.tolist(), "ids": [str(fresh)]})
            if status == 201:
                written_id = fresh
                ledger.acknowledged.add(written_id)
            last = (status, reply)
        if written_id is not None:
            status, reply = await request(v1, "PUT", f"/collections/{COLLECTION}/vectors",
                                          {"search": {"topk": 1, "vectors": vector.tolist(), "params": {"nprobe": EXACT_NPROBE}}})
            if status == 200 and reply["results"][0] and reply["results"][0][0]["id"] == str(written_id):  # type: ignore[index]
                return time.monotonic() - started
            last = (status, reply)
        await asyncio.sleep(0.2)
    raise AssertionError(f"not served again within {within_s:.0f}s: last answer {last}")


async def check_ledger(v1: V1Client, v2: V2Client, ledger: Ledger, rng: random.Random) -> int:
    """Every acknowledged row present once, acknowledged deletes hold, nothing unknown, and
    searches equal the exact top-k of what is stored. Returns how many rows are stored."""
    found = await stored_ids(v2, COLLECTION)
    twice = [i for i, n in found.items() if n > 1]
    assert not twice, f"{len(twice)} ids stored more than once, e.g. {twice[:5]}"
    missing = ledger.live() - set(found)
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    resurrected = ledger.deleted & set(found)
    assert not resurrected, f"{len(resurrected)} acknowledged deletes undone, e.g. {sorted(resurrected)[:5]}"
    unknown = set(found) - set(ledger.vectors)
    assert not unknown, f"{len(unknown)} rows nobody wrote, e.g. {sorted(unknown)[:5]}"
    stored = np.array(sorted(found), dtype=np.int64)
    base = np.stack([ledger.vectors[i] for i in stored.tolist()])
    queries = np.stack([ledger.vectors[i] for i in rng.sample(sorted(ledger.live()), 5)])
    expected = stored[np.argsort(float_distances(base, queries, "L2"), axis=1, kind="stable")[:, :10]]
    hits = await v1.search(COLLECTION, queries, 10, params={"nprobe": EXACT_NPROBE})
    assert [[i for i, _ in query] for query in hits] == expected.tolist()
    return len(found)


async def test_every_acknowledged_write_survives_lost_machines_and_killed_processes(
    fault_cluster: TestCluster, http: aiohttp.ClientSession
) -> None:
    v1, v2 = V1Client(http, fault_cluster.v1_url), V2Client(http, fault_cluster.http_url)
    rng, np_rng = random.Random(SEED), np.random.default_rng(SEED - 1)
    await create_sharded_collection(v2, COLLECTION, DIM, "L2", shards=SHARDS, auto_id=False)
    ledger = Ledger()
    victims = [VICTIMS[i % len(VICTIMS)] for i in range(ROUNDS)]
    rng.shuffle(victims)
    served: dict[str, list[float]] = {}
    builds = []
    for number, victim in enumerate(victims, 1):
        stop = asyncio.Event()
        load = [asyncio.create_task(writer(v1, ledger, stop, np.random.default_rng(SEED + 7 * number + i))) for i in range(3)]
        load += [asyncio.create_task(deleter(v1, ledger, stop, random.Random(SEED + number))),
                 asyncio.create_task(searcher(v1, ledger, stop, random.Random(SEED - number)))]
        try:
            await asyncio.sleep(rng.uniform(1.0, 2.0))
            if victim.startswith("indexnode"):  # mid-build: a new index version to build
                builds.append(asyncio.create_task(request(v1, "POST", f"/collections/{COLLECTION}/indexes",
                                                          {"index_type": "IVFFLAT", "params": {"nlist": rng.choice([8, 16, 32])}})))
                await asyncio.sleep(0.3)
            started = time.monotonic()
            await fault_cluster.kill(victim)
            if victim.startswith("datanode"):  # the machine is lost with its disk
                shutil.rmtree(fault_cluster.root / victim)
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            await fault_cluster.restart(victim)
            within = SERVED_AGAIN_S if victim.startswith(("datanode", "nats")) else RECOVERY_S
            try:
                served.setdefault(victim.rstrip("-123"), []).append(await served_again(v1, ledger, np_rng, within, started))
            except AssertionError as error:
                raise AssertionError(f"round {number} ({victim} killed): {error}\n{fault_cluster.log_tail(30)}") from None
            await asyncio.sleep(rng.uniform(0.5, 1.0))
        finally:
            stop.set()
            await asyncio.gather(*load)
        try:
            await check_ledger(v1, v2, ledger, rng)
        except AssertionError as error:
            raise AssertionError(f"after round {number} ({victim} killed): {error}") from None
    await asyncio.gather(*builds)

    worst = ", ".join(f"{kind} {max(times):.1f}s" for kind, times in sorted(served.items()))
    print(f"{ROUNDS} rounds; served again at worst after: {worst}; {len(ledger.acknowledged)} rows and "
          f"{len(ledger.deleted)} deletes acknowledged, {len(ledger.maybe_deleted)} deletes unsure, "
          f"{ledger.failed_searches} searches failed")
    assert len(ledger.acknowledged) > 1000 and ledger.deleted

    await v1.flush(COLLECTION)
    deadline = time.monotonic() + 60
    while True:  # every index build, killed or not, finishes
        (index,) = await v2.ok("indexes/describe", {"collectionName": COLLECTION, "indexName": "vector"})
        if index["indexState"] == "Finished" and index["pendingRows"] == 0:
            break
        assert time.monotonic() < deadline, f"index builds did not finish: {index}"
        await asyncio.sleep(0.5)
    count = await check_ledger(v1, v2, ledger, rng)
    assert (await v1.info(COLLECTION))["count"] == count
