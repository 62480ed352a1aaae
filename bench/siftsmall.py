"""Loads siftsmall through the Milvus 0.x REST API and measures insert and search.

    python bench/siftsmall.py [--url http://127.0.0.1:19121] [--data ../shared/data/siftsmall]

Without --url it starts a standalone cluster in a temporary folder and stops it afterwards.
Reports insert vectors/s (batches of 1,000 x 128), search QPS with p50/p99 latency at
concurrency 1 and 32 (one query of top-10 per request), and recall@10 against the ground truth.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp
import numpy as np
import orjson

from common import ROOT, call, cluster, read_vecs

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "siftsmall"
COLLECTION = "siftsmall_bench"


async def load(http: aiohttp.ClientSession, url: str, base: np.ndarray, batch: int) -> float:
    await http.delete(f"{url}/collections/{COLLECTION}")
    await call(http, "POST", f"{url}/collections",
               {"collection_name": COLLECTION, "dimension": base.shape[1], "metric_type": "L2"})
    started = time.perf_counter()
    for start in range(0, len(base), batch):
        chunk = base[start : start + batch]
        ids = [str(i) for i in range(start, start + len(chunk))]  # row number = ground-truth id
        await call(http, "POST", f"{url}/collections/{COLLECTION}/vectors",
                   {"vectors": chunk.tolist(), "ids": ids})
    elapsed = time.perf_counter() - started
    await call(http, "PUT", f"{url}/system/task", {"flush": {"collection_names": [COLLECTION]}})
    return len(base) / elapsed


async def search_load(
    http: aiohttp.ClientSession, url: str, queries: np.ndarray, concurrency: int, requests: int
) -> tuple[float, np.ndarray, list[list[int]]]:
    """Runs `requests` single-query searches over `concurrency` workers."""
    bodies = [orjson.dumps({"search": {"topk": 10, "params": {}, "vectors": [q.tolist()]}}) for q in queries]
    latencies: list[float] = []
    answers: dict[int, list[int]] = {}
    counter = iter(range(requests))

    async def worker() -> None:
        for n in counter:
            q = n % len(queries)
            t0 = time.perf_counter()
            async with http.put(f"{url}/collections/{COLLECTION}/vectors", data=bodies[q],
                                headers={"Content-Type": "application/json"}) as r:
                reply = await r.json(content_type=None)
                assert r.status == 200, reply
            latencies.append(time.perf_counter() - t0)
            answers[q] = [int(hit["id"]) for hit in reply["results"][0]]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return requests / elapsed, np.array(latencies) * 1000, [answers[q] for q in range(len(queries))]


def recall_at_10(answers: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[:10]) & set(t[:10].tolist())) / 10 for a, t in zip(answers, truth)]))


async def run(args: argparse.Namespace) -> dict:
    base = read_vecs(args.data / "siftsmall_base.fvecs", "float32")
    queries = read_vecs(args.data / "siftsmall_query.fvecs", "float32")
    truth = read_vecs(args.data / "siftsmall_groundtruth.ivecs", "int32")
    async with cluster(args.url, None) as endpoints:
        url = endpoints.v1
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as http:
            insert_rate = await load(http, url, base, args.batch)
            results = {"insert_vectors_per_s": insert_rate, "vectors": len(base)}
            await search_load(http, url, queries, 4, 100)  # warm-up
            for concurrency in (1, 32):
                qps, latency, answers = await search_load(http, url, queries, concurrency, args.requests)
                results[f"c{concurrency}"] = {
                    "qps": qps,
                    "p50_ms": float(np.percentile(latency, 50)),
                    "p99_ms": float(np.percentile(latency, 99)),
                    "recall_at_10": recall_at_10(answers, truth),
                }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running cluster's Milvus 0.x REST URL")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch", type=int, default=1000, help="vectors per insert request")
    parser.add_argument("--requests", type=int, default=2000, help="search requests per concurrency level")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"insert: {results['insert_vectors_per_s']:,.0f} vectors/s "
          f"({results['vectors']:,} x 128, batches of {args.batch})")
    print(f"{'concurrency':>11} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>10}")
    for c in (1, 32):
        r = results[f"c{c}"]
        print(f"{c:>11} {r['qps']:>8,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['recall_at_10']:>10.3f}")


if __name__ == "__main__":
    main()
