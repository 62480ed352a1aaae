"""Object store throughput: obstore against aiobotocore (and quiver.objectstore, the layer the
roles call, on obstore), put and get against SeaweedFS, in MB/s.

    python bench/objectstore.py                      # its own SeaweedFS (tests/seaweedfs.py)
    python bench/objectstore.py --endpoint http://127.0.0.1:8333 --bucket quiver  # keys from AWS_*

Each client puts then gets SMALL objects of 1 MB and LARGE objects of 64 MB, CONCURRENCY at a
time, each client with its defaults (obstore uploads above 5 MB in parts; aiobotocore's
put_object is one PUT). Clients take turns round after round, so a noisy neighbour on the
machine hurts them alike; the best round of each is printed. aiobotocore comes with the
`bench` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import obstore
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from obstore.store import S3Store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quiver.objectstore import ObjectStore, ObjectStoreConfig  # noqa: E402
from tests.seaweedfs import SeaweedFS  # noqa: E402

MB = 1024 * 1024


@dataclass(frozen=True)
class Client:
    name: str
    put: Callable[[str, bytes], Awaitable[None]]
    get: Callable[[str], Awaitable[int]]  # returns the bytes read
    delete: Callable[[list[str]], Awaitable[None]]


def obstore_client(cfg: ObjectStoreConfig, bucket: str) -> Client:
    store = S3Store(bucket, endpoint=cfg.endpoint, region=cfg.region, access_key_id=cfg.access_key,
                    secret_access_key=cfg.secret_key, client_options={"allow_http": True})

    async def put(key: str, data: bytes) -> None:
        await obstore.put_async(store, key, data)

    async def get(key: str) -> int:
        return len(await (await obstore.get_async(store, key)).bytes_async())

    async def delete(keys: list[str]) -> None:
        await obstore.delete_async(store, keys)

    return Client("obstore", put, get, delete)


def quiver_client(cfg: ObjectStoreConfig) -> Client:
    store = ObjectStore.open(cfg)

    async def get(key: str) -> int:
        return len(await store.get(key))

    return Client("quiver.objectstore", store.put, get, store.delete)


async def aiobotocore_client(cfg: ObjectStoreConfig, bucket: str, concurrency: int, stack: AsyncExitStack) -> Client:
    s3 = await stack.enter_async_context(get_session().create_client(
        "s3", endpoint_url=cfg.endpoint, region_name=cfg.region, aws_access_key_id=cfg.access_key,
        aws_secret_access_key=cfg.secret_key, config=AioConfig(max_pool_connections=concurrency),
    ))

    async def put(key: str, data: bytes) -> None:
        await s3.put_object(Bucket=bucket, Key=key, Body=data)

    async def get(key: str) -> int:
        response = await s3.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            return len(await body.read())

    async def delete(keys: list[str]) -> None:
        await s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})

    return Client("aiobotocore", put, get, delete)


async def measure(client: Client, payload: bytes, count: int, concurrency: int) -> tuple[float, float]:
    """Put then get `count` objects of `payload`: MB/s of each."""
    keys = [f"bench/{client.name}/{uuid.uuid4().hex}" for _ in range(count)]
    slots = asyncio.Semaphore(concurrency)

    async def limited(work: Awaitable[object]) -> None:
        async with slots:
            await work

    started = time.perf_counter()
    await asyncio.gather(*(limited(client.put(key, payload)) for key in keys))
    put_s = time.perf_counter() - started
    sizes: list[int] = []

    async def read(key: str) -> None:
        sizes.append(await client.get(key))

    started = time.perf_counter()
    await asyncio.gather(*(limited(read(key)) for key in keys))
    get_s = time.perf_counter() - started
    assert sizes == [len(payload)] * count, "a get returned the wrong size"
    await client.delete(keys)
    total_mb = count * len(payload) / MB
    return total_mb / put_s, total_mb / get_s


async def run(args: argparse.Namespace, cfg: ObjectStoreConfig) -> None:
    workloads = [("1 MB", os.urandom(MB), args.small), ("64 MB", os.urandom(64 * MB), args.large)]
    best: dict[tuple[str, str], tuple[float, float]] = {}
    async with AsyncExitStack() as stack:
        clients = [
            obstore_client(cfg, args.bucket),
            await aiobotocore_client(cfg, args.bucket, args.concurrency, stack),
            quiver_client(cfg),
        ]
        for round_ in range(1, args.rounds + 1):
            for label, payload, count in workloads:
                for client in clients:
                    put_rate, get_rate = await measure(client, payload, count, args.concurrency)
                    print(f"round {round_}  {client.name:<20} {count:>4} x {label:<6} put {put_rate:7.0f} MB/s"
                          f"  get {get_rate:7.0f} MB/s", flush=True)
                    old_put, old_get = best.get((client.name, label), (0.0, 0.0))
                    best[(client.name, label)] = (max(old_put, put_rate), max(old_get, get_rate))
    print(f"\nbest of {args.rounds} rounds, concurrency {args.concurrency} (MB/s)")
    print(f"{'client':<20} {'objects':<12} {'put':>7} {'get':>7}")
    for (name, label), (put_rate, get_rate) in best.items():
        count = args.small if label == "1 MB" else args.large
        print(f"{name:<20} {f'{count} x {label}':<12} {put_rate:7.0f} {get_rate:7.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=200, help="how many 1 MB objects")
    parser.add_argument("--large", type=int, default=20, help="how many 64 MB objects")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default="", help="an S3 endpoint to use (default: start SeaweedFS)")
    parser.add_argument("--bucket", default="quiver")
    args = parser.parse_args()
    if args.endpoint:
        cfg = ObjectStoreConfig(url=f"s3://{args.bucket}", endpoint=args.endpoint,
                                access_key=os.environ.get("AWS_ACCESS_KEY_ID", ""),
                                secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        await run(args, cfg)
        return
    with tempfile.TemporaryDirectory(prefix="quiver-bench-s3-") as root:
        server = SeaweedFS(Path(root), bucket=args.bucket)
        await server.start()
        try:
            await run(args, server.config(args.bucket))
        finally:
            await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
