"""A data node whose disk fills up: inserts get a clear error, nothing acknowledged is lost, the
node keeps serving reads, and writes work again once there is room. The node's data directory
is a small tmpfs, which needs root."""

from __future__ import annotations

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
    data_dir = tmp_path / "datanode-1"
    data_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(data_dir)], check=True)
    cluster = TestCluster(tmp_path, data_nodes=1)
    try:
        await cluster.start()
        yield cluster, data_dir
    finally:
        await cluster.stop()
        subprocess.run(["umount", str(data_dir)], check=True)


async def test_a_full_disk_refuses_writes_clearly_and_keeps_the_data(
    full_disk: tuple[TestCluster, Path], http: aiohttp.ClientSession, name: str
) -> None:
    cluster, data_dir = full_disk
    v1 = V1Client(http, cluster.v1_url)
    await v1.create_collection(name, DIM)
    rng = np.random.default_rng(12)
    acknowledged: dict[int, np.ndarray] = {}
    for batch in range(200):  # far more than 12 MB
        vectors = rng.standard_normal((ROWS_PER_INSERT, DIM)).astype(np.float32)
        ids = list(range(batch * ROWS_PER_INSERT + 1, (batch + 1) * ROWS_PER_INSERT + 1))
        status, reply = await v1.request("POST", f"/collections/{name}/vectors",
                                         {"vectors": vectors.tolist(), "ids": [str(i) for i in ids]})
        if status != 201:
            break
        acknowledged.update(zip(ids, vectors))
    assert status == 507, reply
    assert "out of disk space" in reply["message"] and "datanode-1" in reply["message"], reply
    assert len(acknowledged) >= 5 * ROWS_PER_INSERT

    # Everything acknowledged is still served, and the node answers reads.
    sample = sorted(acknowledged)[:: len(acknowledged) // 50]
    stored = await v1.get_vectors(name, sample)
    for i in sample:
        np.testing.assert_array_equal(np.array(stored[i], dtype=np.float32), acknowledged[i])
    hits = await v1.search(name, np.stack([acknowledged[i] for i in sample[:5]]), 1)
    assert [h[0][0] for h in hits] == sample[:5]

    subprocess.run(["mount", "-o", "remount,size=96m", str(data_dir)], check=True)  # room again
    more = rng.standard_normal((ROWS_PER_INSERT, DIM)).astype(np.float32)
    more_ids = list(range(10**6, 10**6 + ROWS_PER_INSERT))
    await v1.insert(name, more, more_ids)
    await v1.flush(name)
    assert (await v1.info(name))["count"] == len(acknowledged) + ROWS_PER_INSERT
