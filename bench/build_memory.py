"""Resident memory of the index node and data node at rest, build after build.

    python bench/build_memory.py [--builds 6] [--rows 200000]

Starts a standalone cluster, loads a seeded rows x 64 set, then builds an HNSW index over it
and drops it again, `--builds` times. After each build it waits past the roles' free-memory
interval and prints each node's anonymous resident memory (its heap, from smaps_rollup): a
role that keeps what its builds fragmented climbs here build after build; a healthy one levels
off after the first.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import numpy as np
import orjson
import psutil

from common import call, cluster, flush
from quiver.runtime import FREE_MEMORY_INTERVAL_S

COLLECTION = "build_memory_bench"
DIM = 64


def anonymous_mb(process: psutil.Process) -> int:
    with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) // 1024
    return 0


def role(supervisor: int, name: str) -> psutil.Process:
    for child in psutil.Process(supervisor).children(recursive=True):
        if name in child.cmdline():
            return child
    raise RuntimeError(f"no {name} process under the supervisor")


async def run(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(7)
    async with cluster(None, None) as endpoints, aiohttp.ClientSession() as http:
        url = endpoints.v1
        await call(http, "POST", f"{url}/collections", {"collection_name": COLLECTION, "dimension": DIM})
        for _ in range(0, args.rows, 10_000):
            body = orjson.dumps({"vectors": rng.standard_normal((10_000, DIM), dtype=np.float32).tolist()})
            async with http.post(f"{url}/collections/{COLLECTION}/vectors", data=body) as reply:
                assert reply.status == 201, await reply.text()
        await flush(http, url, COLLECTION)
        index_node, data_node = role(endpoints.pid, "indexnode"), role(endpoints.pid, "datanode")
        print(f"{'build':>5} {'index node MB':>14} {'data node MB':>13}")
        print(f"{'-':>5} {anonymous_mb(index_node):>14} {anonymous_mb(data_node):>13}")
        for build in range(1, args.builds + 1):
            params = {"M": 16, "efConstruction": 40}
            await call(http, "POST", f"{url}/collections/{COLLECTION}/indexes", {"index_type": "HNSW", "params": params})
            await asyncio.sleep(FREE_MEMORY_INTERVAL_S + 5)
            print(f"{build:>5} {anonymous_mb(index_node):>14} {anonymous_mb(data_node):>13}", flush=True)
            await call(http, "DELETE", f"{url}/collections/{COLLECTION}/indexes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=6)
    parser.add_argument("--rows", type=int, default=200_000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
