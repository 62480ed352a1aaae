"""The write path through the log: insert throughput and how soon a write is searchable.

    python bench/write_path.py [--v1-url URL] [--rows 200000] [--rounds 200]

On a standalone cluster of its own (or the one at --v1-url), 128-d float vectors:
- JSON insert: 1,000 vectors a request, 4 requests in flight, vectors/s;
- binary insert (.npy bodies of 10,000 vectors), 4 in flight, vectors/s;
- freshness: a single-row insert, then at once a Strong search for it (the default): the insert's
  latency, the search's, and that the row was found by the first search every time; and with
  Eventually (REST v2), how long until the row shows up.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time

import aiohttp
import numpy as np

from common import call, cluster

DIM = 128
IN_FLIGHT = 4


async def insert_rate(http: aiohttp.ClientSession, v1_url: str, name: str, vectors: np.ndarray, binary: bool) -> float:
    batch = 10_000 if binary else 1000
    chunks = [vectors[i : i + batch] for i in range(0, len(vectors), batch)]
    queue = asyncio.Queue[np.ndarray]()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            if binary:
                body = io.BytesIO()
                np.save(body, chunk)
                async with http.post(f"{v1_url}/collections/{name}/vectors", data=body.getvalue(),
                                     headers={"Content-Type": "application/x-npy"}) as response:
                    assert response.status == 201, await response.text()
            else:
                await call(http, "POST", f"{v1_url}/collections/{name}/vectors", {"vectors": chunk.tolist()})

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return len(vectors) / (time.perf_counter() - started)


async def freshness(http: aiohttp.ClientSession, v1_url: str, name: str, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    insert_ms, search_ms, found_first = [], [], 0
    for _ in range(rounds):
        vector = rng.standard_normal((1, DIM)).astype(np.float32)
        started = time.perf_counter()
        reply = await call(http, "POST", f"{v1_url}/collections/{name}/vectors", {"vectors": vector.tolist()})
        inserted = time.perf_counter()
        found = await call(http, "PUT", f"{v1_url}/collections/{name}/vectors",
                           {"search": {"topk": 1, "vectors": vector.tolist(), "params": {}}})
        searched = time.perf_counter()
        insert_ms.append((inserted - started) * 1000)
        search_ms.append((searched - inserted) * 1000)
        found_first += found["results"][0][0]["id"] == reply["ids"][0]
    return {
        "insert p50 ms": statistics.median(insert_ms),
        "strong search right after, p50 ms": statistics.median(search_ms),
        "found by that first search": found_first / rounds,
    }


async def eventual_visibility(http: aiohttp.ClientSession, http_url: str, rounds: int) -> float:
    """Median ms from an acknowledged insert until an Eventually query sees it (REST v2)."""
    headers = {"Authorization": "Bearer root:Milvus"}
    name = "bench_eventually"
    async with http.post(f"{http_url}/v2/vectordb/collections/create", headers=headers,
                         json={"collectionName": name, "dimension": DIM, "params": {"consistencyLevel": "Eventually"}}) as r:
        assert (await r.json())["code"] == 0
    rng = np.random.default_rng(8)
    waits = []
    for key in range(1, rounds + 1):
        async with http.post(f"{http_url}/v2/vectordb/entities/insert", headers=headers,
                             json={"collectionName": name, "data": [{"id": key, "vector": rng.standard_normal(DIM).tolist()}]}) as r:
            assert (await r.json())["code"] == 0
        acknowledged = time.perf_counter()
        while True:
            async with http.post(f"{http_url}/v2/vectordb/entities/get", headers=headers,
                                 json={"collectionName": name, "id": [key]}) as r:
                if (await r.json())["data"]:
                    break
        waits.append((time.perf_counter() - acknowledged) * 1000)
    return statistics.median(waits)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--v1-url")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    vectors = np.random.default_rng(1).standard_normal((args.rows, DIM)).astype(np.float32)
    async with cluster(args.v1_url, None) as endpoints, aiohttp.ClientSession() as http:
        for kind, binary in (("JSON", False), ("binary", True)):
            name = f"bench_{kind.lower()}"
            await call(http, "POST", f"{endpoints.v1}/collections", {"collection_name": name, "dimension": DIM})
            rows = vectors if binary else vectors[: args.rows // 4]
            print(f"{kind} insert: {await insert_rate(http, endpoints.v1, name, rows, binary):,.0f} vectors/s")
        await call(http, "POST", f"{endpoints.v1}/collections", {"collection_name": "bench_fresh", "dimension": DIM})
        for label, value in (await freshness(http, endpoints.v1, "bench_fresh", args.rounds)).items():
            print(f"{label}: {value:.2f}")
        print(f"eventually: visible after {await eventual_visibility(http, endpoints.http, args.rounds // 4):.2f} ms (p50)")


if __name__ == "__main__":
    asyncio.run(main())
