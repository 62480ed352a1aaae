"""A small asyncio load generator for Quiver's REST v2 surface: QPS, p50/p95/p99 and errors per
concurrency level as a table, and a latency/throughput plot.

    python bench/loadgen.py [--url http://127.0.0.1:19530] [--scenario search|filtered|insert|mixed]
                            [--concurrency 1,4,16,32] [--duration 15] [--rows 20000] [--plot load.png]

Without --url it starts a standalone cluster of its own. It loads --rows rows (64-d vectors
and an int `bucket`) into a collection of its own, then runs the scenario at each concurrency
for --duration seconds: `search` (top 10), `filtered` (top 10 where bucket < 10, a tenth of the
rows), `insert` (upserts of 100 rows a request) or `mixed` (9 searches to 1 upsert). The plot needs
matplotlib (pip install 'quiver-db[bench]').
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import orjson

from common import cluster

DIM = 64
COLLECTION = "loadgen"
HEADERS = {"Authorization": "Bearer root:Milvus", "Content-Type": "application/json"}


@dataclass
class Level:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        return float(np.percentile(self.latencies_ms, p)) if self.latencies_ms else float("nan")


class Requests:
    """Request bodies of each kind, prepared before the clock starts."""

    def __init__(self, rng: np.random.Generator) -> None:
        queries = rng.standard_normal((256, DIM)).astype(np.float32)
        self.search = [self._search(q, "") for q in queries]
        self.filtered = [self._search(q, "bucket < 10") for q in queries]
        self.insert = [self._insert(rng, start) for start in range(10**9, 10**9 + 256 * 100, 100)]

    @staticmethod
    def _search(query: np.ndarray, condition: str) -> tuple[str, bytes]:
        body = {"collectionName": COLLECTION, "data": [query.tolist()], "limit": 10, "filter": condition}
        return "entities/search", orjson.dumps(body)

    @staticmethod
    def _insert(rng: np.random.Generator, start: int) -> tuple[str, bytes]:
        vectors = rng.standard_normal((100, DIM)).astype(np.float32)
        rows = [{"id": start + i, "vector": v.tolist(), "bucket": int(start + i) % 100} for i, v in enumerate(vectors)]
        return "entities/upsert", orjson.dumps({"collectionName": COLLECTION, "data": rows})  # repeatable

    def scenario(self, name: str) -> itertools.cycle:
        if name == "mixed":  # nine searches, then one write
            writes = len(self.insert)
            return itertools.cycle([
                body for i in range(writes)
                for body in (*(self.search[(9 * i + j) % len(self.search)] for j in range(9)), self.insert[i])
            ])
        return itertools.cycle(getattr(self, name))


async def post(http: aiohttp.ClientSession, url: str, path: str, body: bytes) -> dict:
    async with http.post(f"{url}/v2/vectordb/{path}", data=body, headers=HEADERS) as response:
        return await response.json(content_type=None)


async def load_rows(http: aiohttp.ClientSession, url: str, rows: int) -> None:
    await post(http, url, "collections/drop", orjson.dumps({"collectionName": COLLECTION}))
    schema = {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
        {"fieldName": "bucket", "dataType": "Int32"},
    ]}
    index = [{"fieldName": "vector", "indexType": "HNSW", "metricType": "L2", "params": {"M": 16, "efConstruction": 64}}]
    reply = await post(http, url, "collections/create",
                       orjson.dumps({"collectionName": COLLECTION, "schema": schema, "indexParams": index}))
    assert reply["code"] == 0, reply
    rng = np.random.default_rng(1)
    for start in range(0, rows, 2000):
        vectors = rng.standard_normal((min(2000, rows - start), DIM)).astype(np.float32)
        data = [{"id": start + i, "vector": v.tolist(), "bucket": (start + i) % 100} for i, v in enumerate(vectors)]
        reply = await post(http, url, "entities/insert", orjson.dumps({"collectionName": COLLECTION, "data": data}))
        assert reply["code"] == 0, reply


async def run_level(http: aiohttp.ClientSession, url: str, bodies: itertools.cycle, level: Level, duration_s: float) -> None:
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        while time.perf_counter() < deadline:
            path, body = next(bodies)
            started = time.perf_counter()
            try:
                reply = await post(http, url, path, body)
                failed = reply.get("code") != 0
            except aiohttp.ClientError:
                failed = True
            if failed:
                level.errors += 1
            else:
                level.latencies_ms.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(level.concurrency)))
    level.elapsed_s = time.perf_counter() - started


def plot(levels: list[Level], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for p in (50, 95, 99):
        axis.plot([lv.qps for lv in levels], [lv.percentile(p) for lv in levels], marker="o", label=f"p{p}")
    for lv in levels:
        axis.annotate(f"c={lv.concurrency}", (lv.qps, lv.percentile(50)), textcoords="offset points", xytext=(4, -12))
    axis.set_xlabel("throughput (requests/s)")
    axis.set_ylabel("latency (ms)")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


async def main_async(args: argparse.Namespace) -> list[Level]:
    levels = [Level(int(c)) for c in args.concurrency.split(",")]
    async with cluster(None, args.url) as endpoints:
        url = endpoints.http
        connector = aiohttp.TCPConnector(limit=max(lv.concurrency for lv in levels) + 4)
        async with aiohttp.ClientSession(connector=connector) as http:
            await load_rows(http, url, args.rows)
            bodies = Requests(np.random.default_rng(2)).scenario(args.scenario)
            for level in levels:
                await run_level(http, url, bodies, level, args.duration)
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running cluster's REST v2 URL")
    parser.add_argument("--scenario", choices=("search", "filtered", "insert", "mixed"), default="search")
    parser.add_argument("--concurrency", default="1,4,16,32")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--plot", type=Path, help="write the latency/throughput plot here (PNG)")
    args = parser.parse_args()
    levels = asyncio.run(main_async(args))
    print(f"{args.scenario}: {args.rows:,} rows of {DIM}-d vectors, {args.duration:.0f} s per level")
    print(f"{'concurrency':>11} {'QPS':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for lv in levels:
        print(f"{lv.concurrency:>11} {lv.qps:>8,.0f} {lv.percentile(50):>8.2f} {lv.percentile(95):>8.2f} "
              f"{lv.percentile(99):>8.2f} {lv.errors:>7}")
    if args.plot:
        plot(levels, f"Quiver REST v2, {args.scenario}", args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
