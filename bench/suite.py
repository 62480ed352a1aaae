"""The benchmark suite: every performance figure of Quiver next to its baseline, in one run on
one machine, with the ratio.

    python bench/suite.py [--runs 3] [--rows 200000] [--no-chroma] [--out results.json]

Figures (each the median of --runs runs, with min and max):
- transport floor: an aiohttp handler making one grpc.aio hop to a no-op server (c=1, c=32);
- raw faiss in this process: HNSW (M 16) build time, serial search latency, recall@10;
- Quiver through REST, on siftsmall (10k x 128) and a seeded --rows x 128 set: search QPS at
  concurrency 32 and serial p50/p99 (`hey`), recall@10 with the same HNSW parameters (ef tuned so
  that faiss reaches 0.95), JSON insert vectors/s (1,000 x 128 a request), binary import
  vectors/s (`quiver import`), index build time from the REST call to serving, and the resident
  memory of every process per stored vector, against raw float32 (512 bytes);
- chromadb in-process (serial, one query a call, siftsmall), in a virtual environment of its own
  (created on first use in bench/.chroma-venv).

Needs `hey` (apt-get install hey). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import faiss
import numpy as np
import orjson
import psutil

import transport_floor
from common import ROOT, call, cluster, flush, hey, read_vecs

SIFT = ROOT.parent / "shared" / "data" / "siftsmall"
M, EF_CONSTRUCTION = 16, 200
EF_CHOICES = (16, 32, 64, 128, 256)
RAW_BYTES_PER_VECTOR = 128 * 4
CHROMA_VENV = Path(__file__).parent / ".chroma-venv"
CHROMA_VERSION = "1.5.9"


def seeded(rows: int, queries: int = 1000, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """A gaussian mixture (1,000 centres) and queries drawn the same way."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, 128)).astype(np.float32) * 4

    def draw(n: int) -> np.ndarray:
        return centres[rng.integers(0, 1000, n)] + rng.standard_normal((n, 128)).astype(np.float32)

    return draw(rows), draw(queries)


def ground_truth(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    _, truth = faiss.knn(queries, base, 10)
    return truth


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10].tolist())) / 10 for f, t in zip(found, truth)]))


# -- raw faiss ----------------------------------------------------------------------------------


def raw_faiss(base: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """HNSW built and searched in this process, one query a call, as Quiver's data node does."""
    faiss.omp_set_num_threads(psutil.cpu_count())
    index = faiss.IndexHNSWFlat(base.shape[1], M)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    started = time.perf_counter()
    index.add(base)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    ef = next((ef for ef in EF_CHOICES if _hnsw_recall(index, queries, truth, ef) >= 0.95), EF_CHOICES[-1])
    latencies = []
    for query in queries:
        t0 = time.perf_counter()
        index.search(query[None], 10, params=faiss.SearchParametersHNSW(efSearch=ef))
        latencies.append(time.perf_counter() - t0)
    return {
        "build_s": build_s, "ef": ef, "recall": _hnsw_recall(index, queries, truth, ef),
        "serial_qps": len(queries) / sum(latencies), "p50_ms": float(np.percentile(latencies, 50)) * 1000,
    }


def _hnsw_recall(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, ef: int) -> float:
    _, found = index.search(queries, 10, params=faiss.SearchParametersHNSW(efSearch=ef))
    return recall(found.tolist(), truth)


# -- Quiver ---------------------------------------------------------------------------------------


def cluster_rss(pid: int) -> int:
    """Resident bytes of the standalone supervisor and every process under it (Redis included)."""
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


async def quiver_figures(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, ef: int) -> dict[str, float]:
    name, figures = "suite", {}
    async with cluster(None, None) as endpoints, aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None)
    ) as http:
        url = endpoints.v1
        await asyncio.sleep(3)  # let start-up settle before measuring the empty cluster
        empty_rss = cluster_rss(endpoints.pid)
        figures["empty_cluster_mb"] = empty_rss / 2**20
        await call(http, "POST", f"{url}/collections", {"collection_name": name, "dimension": 128})
        started = time.perf_counter()
        for start in range(0, len(base), 1000):
            body = orjson.dumps({"vectors": base[start : start + 1000].tolist(), "ids": [str(i) for i in range(start, start + 1000)]})
            async with http.post(f"{url}/collections/{name}/vectors", data=body) as response:
                assert response.status == 201, await response.text()
        figures["json_insert_vps"] = len(base) / (time.perf_counter() - started)
        await flush(http, url, name)
        started = time.perf_counter()
        await call(http, "POST", f"{url}/collections/{name}/indexes",
                   {"index_type": "HNSW", "params": {"M": M, "efConstruction": EF_CONSTRUCTION}})
        figures["build_s"] = time.perf_counter() - started
        search_url = f"{url}/collections/{name}/vectors"
        answers = []
        for query in queries:
            reply = await call(http, "PUT", search_url, {"search": {"topk": 10, "vectors": [query.tolist()], "params": {"ef": ef}}})
            answers.append([int(hit["id"]) for hit in reply["results"][0]])
        figures["recall"] = recall(answers, truth)
        body = orjson.dumps({"search": {"topk": 10, "vectors": [queries[0].tolist()], "params": {"ef": ef}}})
        serial, loaded = hey(search_url, body, 1, 3000), hey(search_url, body, 32, 20000)
        figures.update(serial_p50_ms=serial["p50_ms"], serial_p99_ms=serial["p99_ms"],
                       c32_qps=loaded["qps"], c32_p99_ms=loaded["p99_ms"])
        figures["bytes_per_vector"] = (cluster_rss(endpoints.pid) - empty_rss) / len(base)
        figures["import_vps"] = await _import(url, base)
    return figures


async def _import(url: str, base: np.ndarray) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.npy"
        np.save(path, base)
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "quiver.cli", "import", str(path), "--collection", "suite_import",
            "--create", "L2", "--url", url, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
        assert await process.wait() == 0, "quiver import failed"
        return len(base) / (time.perf_counter() - started)


# -- chromadb -------------------------------------------------------------------------------------

CHROMA_SCRIPT = """
import sys, time, numpy as np, chromadb
base, queries = np.load(sys.argv[1]), np.load(sys.argv[2])
client = chromadb.EphemeralClient()
collection = client.create_collection("bench", configuration={"hnsw": {"space": "l2"}})
for start in range(0, len(base), 5000):
    collection.add(ids=[str(i) for i in range(start, min(len(base), start + 5000))], embeddings=base[start:start + 5000])
started = time.perf_counter()
for query in queries:
    collection.query(query_embeddings=query[None], n_results=10)
print(len(queries) / (time.perf_counter() - started))
"""


def chroma_qps(base: np.ndarray, queries: np.ndarray) -> float:
    python = CHROMA_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CHROMA_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"chromadb=={CHROMA_VERSION}"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/base.npy", base)
        np.save(f"{tmp}/queries.npy", queries)
        out = subprocess.run([str(python), "-c", CHROMA_SCRIPT, f"{tmp}/base.npy", f"{tmp}/queries.npy"],
                             check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


# -- the run --------------------------------------------------------------------------------------


def one_run(datasets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], chroma: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    for c, floor in transport_floor.measure(20000).items():
        figures.update({f"floor_c{c}_qps": floor["qps"], f"floor_c{c}_p50_ms": floor["p50_ms"]})
    for label, (base, queries, truth) in datasets.items():
        raw = raw_faiss(base, queries, truth)
        figures.update({f"{label}_faiss_{k}": v for k, v in raw.items()})
        quiver = asyncio.run(quiver_figures(base, queries, truth, int(raw["ef"])))
        figures.update({f"{label}_quiver_{k}": v for k, v in quiver.items()})
    if chroma:
        base, queries, _ = datasets["siftsmall"]
        figures["siftsmall_chroma_qps"] = chroma_qps(base, queries)
    return figures


def report(runs: list[dict[str, float]]) -> None:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def spread(key: str) -> str:
        values = [r[key] for r in runs]
        return f"{med(key):,.2f} [{min(values):,.2f}-{max(values):,.2f}]"

    print(f"{len(runs)} runs; medians [min-max]")
    for key in sorted(runs[0]):
        print(f"  {key:<40} {spread(key)}")
    print("targets (ratio of medians):")
    for label in ("siftsmall", "seeded"):
        q = f"{label}_quiver"
        print(f"  {label}: c=32 QPS / floor c=32 = {med(q + '_c32_qps') / med('floor_c32_qps'):.2f} (>= 0.9)")
        if "siftsmall_chroma_qps" in runs[0] and label == "siftsmall":
            print(f"  {label}: c=32 QPS / chromadb = {med(q + '_c32_qps') / med('siftsmall_chroma_qps'):.2f} (>= 2)")
        print(f"  {label}: serial p50 {med(q + '_serial_p50_ms'):.2f} ms (<= 2), p99 {med(q + '_serial_p99_ms'):.2f} ms (<= 5), "
              f"c=32 p99 {med(q + '_c32_p99_ms'):.2f} ms (<= 25)")
        print(f"  {label}: recall REST - faiss = {med(q + '_recall') - med(label + '_faiss_recall'):+.4f} (within 0.005)")
        print(f"  {label}: build REST / faiss = {med(q + '_build_s') / med(label + '_faiss_build_s'):.2f} (<= 1.2)")
        print(f"  {label}: memory per vector / raw float32 = {med(q + '_bytes_per_vector') / RAW_BYTES_PER_VECTOR:.2f} (<= 1.5)")
        print(f"  {label}: JSON insert {med(q + '_json_insert_vps'):,.0f} vec/s (>= 25,000), "
              f"binary import {med(q + '_import_vps'):,.0f} vec/s (>= 200,000)")
    print(f"  empty cluster {med('siftsmall_quiver_empty_cluster_mb'):.0f} MB (<= 300)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--no-chroma", action="store_true")
    parser.add_argument("--out", type=Path, help="write every run's figures here as JSON")
    args = parser.parse_args()
    sift_base = read_vecs(SIFT / "siftsmall_base.fvecs", "float32")
    sift_queries = read_vecs(SIFT / "siftsmall_query.fvecs", "float32")
    seeded_base, seeded_queries = seeded(args.rows)
    datasets = {
        "siftsmall": (sift_base, sift_queries, read_vecs(SIFT / "siftsmall_groundtruth.ivecs", "int32")),
        "seeded": (seeded_base, seeded_queries, ground_truth(seeded_base, seeded_queries)),
    }
    runs = []
    for run in range(args.runs):
        print(f"run {run + 1} of {args.runs} ...", flush=True)
        runs.append(one_run(datasets, chroma=not args.no_chroma))
        if args.out:
            args.out.write_text(json.dumps(runs, indent=2))
    report(runs)


if __name__ == "__main__":
    main()
