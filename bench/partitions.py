"""A collection at the partition limit: 4096 partitions (the default one and 4095 created by 16
concurrent clients), then
inserts and searches in the last one, with every node staying alive throughout.

    python bench/partitions.py [--partitions 4096] [--clients 16] [--v1-url http://127.0.0.1:19121]

Without --v1-url it starts a standalone cluster of its own. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import numpy as np
import orjson

from common import call, cluster, flush

COLLECTION = "partitions_bench"
DIM = 16


async def create_partitions(http: aiohttp.ClientSession, url: str, count: int, clients: int) -> float:
    tags = iter(range(count))

    async def client() -> None:
        for n in tags:
            await call(http, "POST", f"{url}/collections/{COLLECTION}/partitions", {"partition_tag": f"p{n}"})

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


async def dead_nodes(http: aiohttp.ClientSession, url: str) -> list[str]:
    reply = await call(http, "GET", f"{url}/system/info")
    return [n["node_id"] for n in orjson.loads(reply["reply"])["nodes"] if not n["alive"]]


async def run(args: argparse.Namespace) -> None:
    async with cluster(args.v1_url, None) as endpoints, aiohttp.ClientSession() as http:
        url = endpoints.v1
        async with http.delete(f"{url}/collections/{COLLECTION}"):
            pass
        await call(http, "POST", f"{url}/collections", {"collection_name": COLLECTION, "dimension": DIM})
        created = args.partitions - 1  # beside _default
        elapsed = await create_partitions(http, url, created, args.clients)
        print(f"{created} partitions by {args.clients} clients: {elapsed:.1f} s "
              f"({created / elapsed:.0f} partitions/s); nodes down: {await dead_nodes(http, url) or 'none'}")

        vectors = np.random.default_rng(3).standard_normal((1000, DIM)).astype(np.float32)
        tag = f"p{created - 1}"
        started = time.perf_counter()
        await call(http, "POST", f"{url}/collections/{COLLECTION}/vectors",
                   {"vectors": vectors.tolist(), "partition_tag": tag})
        insert_ms = (time.perf_counter() - started) * 1000
        await flush(http, url, COLLECTION)
        started = time.perf_counter()
        for query in vectors[:50]:
            reply = await call(http, "PUT", f"{url}/collections/{COLLECTION}/vectors",
                               {"search": {"topk": 10, "vectors": [query.tolist()], "params": {}, "partition_tags": [tag]}})
            assert len(reply["results"][0]) == 10
        search_ms = (time.perf_counter() - started) * 1000 / 50
        print(f"insert 1000 rows into {tag}: {insert_ms:.0f} ms; search in it: {search_ms:.1f} ms a query; "
              f"nodes down: {await dead_nodes(http, url) or 'none'}")
        await call(http, "DELETE", f"{url}/collections/{COLLECTION}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v1-url", help="a running cluster's Milvus 0.x URL")
    parser.add_argument("--partitions", type=int, default=4096)
    parser.add_argument("--clients", type=int, default=16)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
