"""Where one search's time goes: serial latency through Milvus 0.x and REST v2, the CPU each
request costs the proxy and the data node, and py-spy profiles of both under that load.

    python bench/serial_profile.py [--requests 2000] [--top 25] [--no-profile] [--out DIR]

Starts a standalone cluster in a temporary folder, loads siftsmall (10k x 128) through the
0.x API, builds HNSW (M 16, efConstruction 200), then for each surface:
- `hey` at concurrency 1 (one body repeated: the transport's floor, faiss warm);
- a Python loop over the 100 distinct siftsmall queries on one keep-alive connection
  (http.client: a client far lighter than the servers it measures);
each reporting p50/p99 and the CPU seconds per request that the proxy and the data node spent.
Then, unless --no-profile, a second distinct-query loop under `py-spy record -f raw` on the
proxy and the data node (kept apart from the figures, as sampling slows the processes), and the
top frames of each by inclusive time. The raw profiles stay in --out for flame graphs.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import orjson
import psutil

from common import ROOT, cluster, hey, load_with_hnsw, read_vecs

SIFT = ROOT.parent / "shared" / "data" / "siftsmall"
COLLECTION = "serial_profile"
M, EF_CONSTRUCTION = 16, 200
V2_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer root:Milvus"}


def role_process(supervisor: int, module: str) -> psutil.Process:
    """The standalone's process running `python -m module`."""
    for child in psutil.Process(supervisor).children(recursive=True):
        if child.cmdline()[1:3] == ["-m", module]:
            return child
    raise RuntimeError(f"no {module} process under {supervisor}")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class Surface:
    """How to send one search through a REST surface."""

    def __init__(self, name: str, url: str, path: str, method: str, headers: dict[str, str], ef: int) -> None:
        self.name, self.url, self.path, self.method, self.headers, self.ef = name, url, path, method, headers, ef

    def body(self, query: np.ndarray) -> bytes:
        if self.name == "v1":
            return orjson.dumps({"search": {"topk": 10, "vectors": [query.tolist()], "params": {"ef": self.ef}}})
        return orjson.dumps({"collectionName": COLLECTION, "data": [query.tolist()], "limit": 10,
                             "searchParams": {"params": {"ef": self.ef}}})


def distinct_loop(surface: Surface, queries: np.ndarray, requests: int) -> np.ndarray:
    """Serial searches cycling through the distinct queries on one keep-alive connection;
    the latencies in ms."""
    bodies = [surface.body(q) for q in queries]
    parts = urlsplit(surface.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    latencies = np.empty(requests)
    try:
        for n in range(requests):
            started = time.perf_counter()
            connection.request(surface.method, surface.path, body=bodies[n % len(bodies)], headers=surface.headers)
            response = connection.getresponse()
            reply = response.read()
            latencies[n] = time.perf_counter() - started
            # REST v2 answers errors with 200 and a non-zero code
            if response.status != 200 or (surface.name == "v2" and not reply.startswith(b'{"code":0')):
                raise RuntimeError(f"{surface.name} search failed: {response.status} {reply[:200]!r}")
    finally:
        connection.close()
    return latencies * 1000


def measured(load: Callable[[], dict[str, float]], requests: int, roles: dict[str, psutil.Process]) -> dict[str, float]:
    """Runs `load()` and adds the CPU ms per request each role spent meanwhile."""
    before = {name: cpu_seconds(p) for name, p in roles.items()}
    figures = load()
    for name, process in roles.items():
        figures[f"{name}_cpu_ms"] = (cpu_seconds(process) - before[name]) * 1000 / requests
    return figures


def percentiles(latencies: np.ndarray) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99))}


def profiled(surface: Surface, queries: np.ndarray, requests: int, roles: dict[str, psutil.Process],
             out: Path) -> dict[str, Path]:
    """The distinct-query loop under py-spy on every role; the raw profiles' paths."""
    files = {name: out / f"{surface.name}-{name}.raw" for name in roles}
    spies = [
        subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(p.pid), "-f", "raw",
                          "-o", str(files[name]), "-r", "500", "--nonblocking"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, p in roles.items()
    ]
    time.sleep(1.0)  # py-spy attaches
    distinct_loop(surface, queries, requests)
    for spy in spies:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
    for spy in spies:
        spy.wait(timeout=30)
    return files


def top_frames(raw: Path, top: int) -> list[tuple[float, float, str]]:
    """(inclusive %, self %, frame) of the frames most often on the stack, idle samples left
    out: py-spy's raw format is one `frame;frame;...;leaf count` line per distinct stack."""
    inclusive, own, total = Counter[str](), Counter[str](), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    return [(100 * n / total, 100 * own[f] / total, f) for f, n in inclusive.most_common(top)] if total else []


async def run(args: argparse.Namespace) -> dict:
    base = read_vecs(args.data / "siftsmall_base.fvecs", "float32")
    queries = read_vecs(args.data / "siftsmall_query.fvecs", "float32")
    results: dict = {}
    async with cluster(None, None) as endpoints:
        async with aiohttp.ClientSession() as http:
            await load_with_hnsw(http, endpoints.v1, COLLECTION, base, M, EF_CONSTRUCTION)
        roles = {name: role_process(endpoints.pid, name) for name in ("proxy", "datanode")}
        surfaces = [
            Surface("v1", endpoints.v1, f"/collections/{COLLECTION}/vectors", "PUT",
                    {"Content-Type": "application/json"}, args.ef),
            Surface("v2", endpoints.http, "/v2/vectordb/entities/search", "POST", V2_HEADERS, args.ef),
        ]
        for surface in surfaces:  # warm both paths (connections, caches, the index) first
            await asyncio.to_thread(distinct_loop, surface, queries, 300)
        for surface in surfaces:
            search_url = surface.url + surface.path
            auth = {k: v for k, v in surface.headers.items() if k == "Authorization"}
            results[f"{surface.name}_hey"] = await asyncio.to_thread(
                measured, lambda: hey(search_url, surface.body(queries[0]), 1, args.requests, surface.method, auth),
                args.requests, roles)
            results[f"{surface.name}_distinct"] = await asyncio.to_thread(
                measured, lambda: percentiles(distinct_loop(surface, queries, args.requests)), args.requests, roles)
        if args.profile:
            args.out.mkdir(parents=True, exist_ok=True)
            for surface in surfaces:
                files = await asyncio.to_thread(profiled, surface, queries, args.requests, roles, args.out)
                results[f"{surface.name}_profile"] = {name: str(path) for name, path in files.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SIFT)
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--ef", type=int, default=64, help="HNSW efSearch")
    parser.add_argument("--top", type=int, default=25, help="frames to print per profile")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--out", type=Path, default=Path("serial-profile"), help="where the raw profiles go")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'load':<14} {'p50 ms':>7} {'p99 ms':>7} {'proxy CPU ms/req':>17} {'data node CPU ms/req':>21}")
        for key, r in results.items():
            if not key.endswith("_profile"):
                print(f"{key:<14} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['proxy_cpu_ms']:>17.3f} {r['datanode_cpu_ms']:>21.3f}")
    for key, files in results.items():
        if key.endswith("_profile"):
            for role, path in files.items():
                print(f"\n{key.removesuffix('_profile')} {role}: top frames by inclusive time ({path})")
                print(f"{'incl %':>7} {'self %':>7}  frame")
                for inclusive, own, frame in top_frames(Path(path), args.top):
                    print(f"{inclusive:>7.1f} {own:>7.1f}  {frame}")


if __name__ == "__main__":
    main()
