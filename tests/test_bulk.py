"""The binary bulk path: .npy, .fvecs and Arrow bodies on the 0.x insert, and `quiver import`."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pyarrow as pa
import pyarrow.parquet
import pytest

from quiver import bulk
from tests.cluster import TestCluster, V1Client
from tests.reference import assert_same_hits, float_distances, top_k

DIM = 16


async def post_binary(v1: V1Client, name: str, media_type: str, body: bytes, query: str = "") -> tuple[int, Any]:
    url = f"{v1.base}/collections/{name}/vectors{query}"
    async with v1.http.post(url, data=io.BytesIO(body), headers={"Content-Type": media_type}) as response:
        return response.status, await response.json(content_type=None)


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def fvecs(array: np.ndarray) -> bytes:
    dims = np.full((len(array), 1), array.shape[1], dtype="<i4")
    return np.hstack([dims, array.astype("<f4").view("<i4")]).tobytes()


async def count(v1: V1Client, name: str) -> int:
    await v1.flush(name)
    return int((await v1.info(name))["count"])


async def test_a_growing_segment_is_sealed_at_64_mb_however_large_the_collections_segments(
    v1: V1Client, name: str
) -> None:
    """Growing segments are searched by brute force: they stop growing at 64 MB (and are indexed
    from then on) though this collection's segments may reach 1024 MB by compaction. Inserts
    reach the data node as messages of at most 4 MB: the segment seals at the first one that
    takes it to 64 MB."""
    await v1.create_collection(name, 512)  # index_file_size: 1024 MB
    vectors = np.random.default_rng(4).standard_normal((20_000, 512)).astype(np.float32)  # 40 MB
    for batch in (vectors, vectors, vectors[:1000]):
        status, reply = await post_binary(v1, name, bulk.NPY, npy(batch))
        assert status == 201, reply
    for _ in range(100):
        status, listing = await v1.request("GET", f"/collections/{name}/segments")
        rows = sorted(segment["row_count"] for segment in listing["segments"])
        if sum(rows) == 41_000:
            break
        await asyncio.sleep(0.1)
    row_bytes = 512 * 4
    sealed = (64 * 2**20 + row_bytes - 1) // row_bytes  # rows that make 64 MB
    assert len(rows) == 2 and sum(rows) == 41_000, rows
    assert sealed <= rows[1] < sealed + (4 * 2**20) // row_bytes, f"sealed at 64 MB, at most a message past: {rows}"


@pytest.mark.parametrize("media_type", [bulk.NPY, bulk.FVECS, bulk.ARROW])
async def test_binary_inserts_store_exact_vectors(v1: V1Client, name: str, media_type: str) -> None:
    await v1.create_collection(name, DIM)
    vectors = np.random.default_rng(3).standard_normal((2000, DIM)).astype(np.float32)
    body = {bulk.NPY: npy, bulk.FVECS: fvecs, bulk.ARROW: bulk.encode_arrow}[media_type](vectors)
    status, reply = await post_binary(v1, name, media_type, body)
    assert status == 201 and reply["count"] == 2000, reply
    first, last = int(reply["first_id"]), int(reply["last_id"])
    assert last - first == 1999, "allocated ids are consecutive"
    ids = np.arange(first, last + 1)
    got = await v1.get_vectors(name, [first, first + 777, last])
    for i in (0, 777, 1999):
        assert got[int(ids[i])] == pytest.approx(vectors[i].tolist())
    queries = vectors[:5] + 0.01
    assert_same_hits(await v1.search(name, queries, 10), top_k(float_distances(vectors, queries, "L2"), ids, 10))


async def test_arrow_bodies_carry_ids_and_partitions(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    status, _ = await v1.request("POST", f"/collections/{name}/partitions", {"partition_tag": "p1"})
    assert status == 201
    vectors = np.random.default_rng(4).standard_normal((300, DIM)).astype(np.float32)
    ids = np.arange(5000, 5300)
    status, reply = await post_binary(v1, name, bulk.ARROW, bulk.encode_arrow(vectors, ids), "?partition_tag=p1")
    assert (status, reply) == (201, {"code": 0, "message": "OK", "count": 300})
    hits = await v1.search(name, vectors[:1], 3, partition_tags=["p1"])
    assert hits[0][0][0] == 5000
    assert await v1.search(name, vectors[:1], 3, partition_tags=["_default"]) == [[]]


async def test_binary_collections_take_bytes(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 64, "HAMMING")
    codes = np.random.default_rng(5).integers(0, 256, (100, 8), dtype=np.uint8)
    status, reply = await post_binary(v1, name, bulk.NPY, npy(codes))
    assert status == 201 and reply["count"] == 100
    hits = await v1.search(name, codes[:1], 1)
    assert hits[0][0] == (int(reply["first_id"]), 0.0)


BAD_BODIES = [
    pytest.param(bulk.NPY, npy(np.ones((3, DIM + 1), np.float32)), 7, id="wrong_dimension"),
    pytest.param(bulk.NPY, npy(np.full((3, DIM), np.inf, np.float32)), 11, id="not_finite"),
    pytest.param(bulk.NPY, npy(np.ones((3, DIM), np.int32)), 11, id="integers"),
    pytest.param(bulk.NPY, npy(np.ones(DIM, np.float32)), 11, id="one_dimensional"),
    pytest.param(bulk.NPY, npy(np.ones((0, DIM), np.float32)), 11, id="empty"),
    pytest.param(bulk.NPY, b"\x93NUMPY garbage", 35, id="garbage"),
    pytest.param(bulk.FVECS, fvecs(np.ones((3, DIM), np.float32))[:-4], 35, id="torn_fvecs"),
    pytest.param(bulk.ARROW, b"not arrow", 35, id="not_arrow"),
    pytest.param(bulk.ARROW, bulk.encode_arrow(np.ones((3, DIM), np.float32), np.array([1, 2, -3])), 12,
                 id="negative_id"),
]


@pytest.mark.parametrize(("media_type", "body", "code"), BAD_BODIES)
async def test_bad_binary_bodies_are_refused_and_store_nothing(
    v1: V1Client, name: str, media_type: str, body: bytes, code: int
) -> None:
    await v1.create_collection(name, DIM)
    status, reply = await post_binary(v1, name, media_type, body)
    assert (status, reply["code"]) == (400, code), reply
    assert await count(v1, name) == 0


async def run_import(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quiver.cli", "import", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_quiver_import_loads_npy_and_parquet_files(
    cluster: TestCluster, http: aiohttp.ClientSession, name: str, tmp_path: Path
) -> None:
    v1 = V1Client(http, cluster.v1_url)
    vectors = np.random.default_rng(6).standard_normal((12_345, DIM)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", vectors)
    code, out = await run_import(str(tmp_path / "vectors.npy"), "--collection", name, "--create", "IP",
                                 "--url", cluster.v1_url, "--batch-rows", "5000")
    assert code == 0 and "imported 12,345 vectors" in out, out
    assert (await v1.info(name))["metric_type"] == "IP"
    assert await count(v1, name) == 12_345

    table = pa.table({"id": pa.array(np.arange(900_000, 901_000)),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors[:1000].reshape(-1)), DIM)})
    pa.parquet.write_table(table, tmp_path / "rows.parquet")
    other = name + "_ids"
    await v1.create_collection(other, DIM)
    code, out = await run_import(str(tmp_path / "rows.parquet"), "--collection", other, "--url", cluster.v1_url)
    assert code == 0, out
    got = await v1.get_vectors(other, [900_000, 900_999])
    assert got[900_999] == pytest.approx(vectors[999].tolist())

    code, out = await run_import(str(tmp_path / "vectors.npy"), "--collection", "never_created_here",
                                 "--url", cluster.v1_url)
    assert code != 0 and "insert failed (404)" in out
