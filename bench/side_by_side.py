"""Search latency and throughput of this checkout against an earlier revision, in one run.

    python bench/side_by_side.py --baseline REV [--rounds 6] [--requests 2000] [--ef 16]

Checks REV out into a temporary git worktree and starts two standalone clusters at once, one
from each tree, each with siftsmall (10k x 128) loaded through the 0.x API and HNSW built (M 16,
efConstruction 200). Then, in each round and alternating between the two, `hey` sends one
query repeatedly through the 0.x API: serially (c=1, the p50 latency) and at c=32 (QPS).
Alternating in one run puts both under the same machine noise; the figures are the medians over
the rounds, with [min-max]. Both clusters share the machine, so each also carries the other's
idle cost. Needs `hey` (Debian package). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
from pathlib import Path

import aiohttp
import numpy as np
import orjson

from common import ROOT, cluster, hey, load_with_hnsw, read_vecs

SIFT = ROOT.parent / "shared" / "data" / "siftsmall"
COLLECTION = "side_by_side"
M, EF_CONSTRUCTION = 16, 200


def search_body(query: np.ndarray, ef: int) -> bytes:
    return orjson.dumps({"search": {"topk": 10, "vectors": [query.tolist()], "params": {"ef": ef}}})


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


async def run(args: argparse.Namespace, baseline_tree: Path) -> dict[str, dict[str, list[float]]]:
    base = read_vecs(args.data / "siftsmall_base.fvecs", "float32")
    query = read_vecs(args.data / "siftsmall_query.fvecs", "float32")[0]
    body = search_body(query, args.ef)
    figures: dict[str, dict[str, list[float]]] = {}
    async with cluster(None, None, source=ROOT) as current, cluster(None, None, source=baseline_tree) as baseline:
        sides = {"this checkout": current.v1, f"baseline {args.baseline}": baseline.v1}
        async with aiohttp.ClientSession() as http:
            for url in sides.values():
                await load_with_hnsw(http, url, COLLECTION, base, M, EF_CONSTRUCTION)
        for name, url in sides.items():  # warm: connections, caches, the index
            await asyncio.to_thread(hey, f"{url}/collections/{COLLECTION}/vectors", body, 1, 500)
            figures[name] = {"serial_p50_ms": [], "c32_qps": []}
        for _ in range(args.rounds):
            for name, url in sides.items():
                target = f"{url}/collections/{COLLECTION}/vectors"
                serial = await asyncio.to_thread(hey, target, body, 1, args.requests)
                loaded = await asyncio.to_thread(hey, target, body, 32, 2 * args.requests)
                figures[name]["serial_p50_ms"].append(serial["p50_ms"])
                figures[name]["c32_qps"].append(loaded["qps"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the git revision to compare with")
    parser.add_argument("--data", type=Path, default=SIFT)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2000, help="serial requests per round (twice that at c=32)")
    parser.add_argument("--ef", type=int, default=16, help="HNSW efSearch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quiver-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline],
                       check=True, capture_output=True)
        try:
            figures = asyncio.run(run(args, tree))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    print(f"{'':<28} {'serial p50 ms':>22} {'c=32 QPS':>28}")
    for name, values in figures.items():
        print(f"{name:<28} {summary(values['serial_p50_ms']):>22} {summary(values['c32_qps']):>28}")
    print("\nby round (serial p50 ms / c=32 QPS):")
    for name, values in figures.items():
        rounds = "  ".join(f"{p:.2f}/{q:.0f}" for p, q in zip(values["serial_p50_ms"], values["c32_qps"]))
        print(f"{name:<28} {rounds}")


if __name__ == "__main__":
    main()
