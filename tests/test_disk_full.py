"""The log's disk fills up: inserts get a clear, retriable error and nothing of a refused insert
is stored, nothing acknowledged is lost, reads go on, and writes work again once there is room.
The log server's store is a small tmpfs, which needs root."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from tests.cluster import TestCluster, V1Client

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root"),
]

DIM = 64
ROWS_PER_INSERT = 1000  # 256 KB of vectors


@pytest.fixture
async def full_disk(tmp_path: Path) -> AsyncIterator[tuple[TestCluster, Path]]:
    cluster = TestCluster(tmp_path, data_nodes=1)
    store = tmp_path / "nats" / "nats-1" / "store"
    store.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(store)], check=True)
    try:
        await cluster.start()
        yield cluster, store
    finally:
        await cluster.stop()
        subprocess.run(["umount", str(store)], check=True)


async def test_a_full_log_refuses_writes_clearly_and_keeps_the_data(
    full_disk: tuple[TestCluster, Path], http: aiohttp.ClientSession, name: str
) -> None:
    cluster, store = full_disk
    v1 = V1Client(http, cluster.v1_url)
    await v1.create_collection(name, DIM)
    rng = np.random.default_rng(12)
    acknowledged: dict[int, np.ndarray] = {}
    for batch in range(200):  # far more than 16 MB
        vectors = rng.standard_normal((ROWS_PER_INSERT, DIM)).astype(np.float32)
        ids = list(range(batch * ROWS_PER_INSERT + 1, (batch + 1) * ROWS_PER_INSERT + 1))
        status, reply = await v1.request("POST", f"/collections/{name}/vectors",
                                         {"vectors": vectors.tolist(), "ids": [str(i) for i in ids]})
        if status != 201:
            refused = ids
            break
        acknowledged.update(zip(ids, vectors))
    assert status == 507, reply
    assert "out of storage" in reply["message"] and "nothing was stored" in reply["message"], reply
    assert len(acknowledged) >= 5 * ROWS_PER_INSERT

    # Everything acknowledged is still served, the refused rows are not, and reads go on.
    sample = sorted(acknowledged)[:: len(acknowledged) // 50]
    stored = await v1.get_vectors(name, sample + refused[:5])
    for i in sample:
        np.testing.assert_array_equal(np.array(stored[i], dtype=np.float32), acknowledged[i])
    assert not any(stored[i] for i in refused[:5])
    hits = await v1.search(name, np.stack([acknowledged[i] for i in sample[:5]]), 1)
    assert [h[0][0] for h in hits] == sample[:5]

    # Room again: the log server sizes its store when it starts.
    subprocess.run(["mount", "-o", "remount,size=160m", str(store)], check=True)
    await cluster.kill("nats-1")
    await cluster.restart("nats-1")
    more = rng.standard_normal((ROWS_PER_INSERT, DIM)).astype(np.float32)
    more_ids = list(range(10**6, 10**6 + ROWS_PER_INSERT))
    for _ in range(100):  # the clients reconnect to the restarted log server
        status, reply = await v1.request("POST", f"/collections/{name}/vectors",
                                         {"vectors": more.tolist(), "ids": [str(i) for i in more_ids]})
        if status == 201:
            break
        await asyncio.sleep(0.1)
    assert status == 201, reply
    await v1.flush(name)
    assert (await v1.info(name))["count"] == len(acknowledged) + ROWS_PER_INSERT
