"""Index build time through Quiver against faiss in-process, on a seeded 200k x 128 set.

    python bench/index_build.py [--rows 200000] [--url http://127.0.0.1:19121]

For HNSW and IVF_FLAT: the time from the REST call (POST /collections/{name}/indexes, which
answers once the index serves every sealed segment) to its answer, and the time faiss takes to
build the same index with the same parameters and threads in this process. Prints both and
their ratio (goal: at most 1.2). Without --url it starts a standalone cluster of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import faiss
import numpy as np
import orjson

from common import call, cluster

COLLECTION = "index_build_bench"
DIM = 128
CASES = {
    "HNSW": ({"M": 16, "efConstruction": 200}, lambda: _hnsw(16, 200)),
    "IVFFLAT": ({"nlist": 1024}, lambda: faiss.IndexIVFFlat(faiss.IndexFlatL2(DIM), DIM, 1024)),
}


def _hnsw(m: int, ef_construction: int) -> faiss.Index:
    index = faiss.IndexHNSWFlat(DIM, m)
    index.hnsw.efConstruction = ef_construction
    return index


def dataset(rows: int, seed: int = 42) -> np.ndarray:
    """A gaussian mixture: 1,000 centres, unit noise around each."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, DIM)).astype(np.float32) * 4
    return centres[rng.integers(0, 1000, rows)] + rng.standard_normal((rows, DIM)).astype(np.float32)


def in_process(make: object, data: np.ndarray) -> float:
    index = make()  # type: ignore[operator]
    started = time.perf_counter()
    if not index.is_trained:
        index.train(data)
    index.add(data)
    faiss.serialize_index(index)  # shipping it is part of a build too
    return time.perf_counter() - started


async def through_rest(http: aiohttp.ClientSession, url: str, index_type: str, params: dict) -> float:
    started = time.perf_counter()
    await call(http, "POST", f"{url}/collections/{COLLECTION}/indexes", {"index_type": index_type, "params": params})
    elapsed = time.perf_counter() - started
    await call(http, "DELETE", f"{url}/collections/{COLLECTION}/indexes")
    return elapsed


async def load(http: aiohttp.ClientSession, url: str, data: np.ndarray) -> None:
    await http.delete(f"{url}/collections/{COLLECTION}")
    await call(http, "POST", f"{url}/collections", {"collection_name": COLLECTION, "dimension": DIM})
    for start in range(0, len(data), 10000):
        body = orjson.dumps({"vectors": data[start : start + 10000].tolist()})
        async with http.post(f"{url}/collections/{COLLECTION}/vectors", data=body) as r:
            assert r.status == 201, await r.text()
    await call(http, "PUT", f"{url}/system/task", {"flush": {"collection_names": [COLLECTION]}})


async def run(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    data = dataset(args.rows)
    results = {}
    async with cluster(args.url, None) as endpoints:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
            await load(http, endpoints.v1, data)
            for index_type, (params, make) in CASES.items():
                rest = await through_rest(http, endpoints.v1, index_type, params)
                local = in_process(make, data)
                results[index_type] = (rest, local)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running cluster's Milvus 0.x REST URL")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"{'index':>8} {'REST s':>8} {'faiss s':>8} {'ratio':>6}   ({args.rows:,} x {DIM})")
    for index_type, (rest, local) in results.items():
        print(f"{index_type:>8} {rest:>8.2f} {local:>8.2f} {rest / local:>6.2f}")


if __name__ == "__main__":
    main()
