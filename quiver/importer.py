"""`quiver import FILE --collection C`: loads vectors from a .npy, .fvecs, .bvecs, .arrow or
.parquet file into a collection through the Milvus 0.x port's binary insert, with a progress bar.

Batches go as Arrow bodies, two in flight, so reading the file, the network and the cluster's
work overlap. Ids come from the file's `id` column (Arrow, Parquet) or are allocated.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import orjson
from tqdm import tqdm

from quiver import bulk, config
from quiver.errors import QuiverError

IN_FLIGHT = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quiver import", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--url", default=config.env("V1_URL", "http://127.0.0.1:19121"), help="the Milvus 0.x REST URL")
    parser.add_argument("--partition-tag", default="")
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument(
        "--create", metavar="METRIC", help="create the collection first (dimension from the file), e.g. --create L2"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    total, batches = bulk.read_file(args.file, args.batch_rows)
    url = f"{args.url.rstrip('/')}/collections/{args.collection}"
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        if args.create:
            await _create(http, args, batches)
            total, batches = bulk.read_file(args.file, args.batch_rows)
        started, done = time.perf_counter(), 0
        with tqdm(total=total, unit="vec", unit_scale=True, desc=args.file.name) as bar:
            pending: set[asyncio.Task[int]] = set()
            for vectors, ids in batches:
                if len(pending) >= IN_FLIGHT:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    done += _advance(bar, finished)
                body = bulk.encode_arrow(np.asarray(vectors), ids)
                pending.add(asyncio.create_task(_post(http, url, body, args.partition_tag)))
            if pending:
                done += _advance(bar, (await asyncio.wait(pending))[0])
        elapsed = time.perf_counter() - started
    print(f"imported {done:,} vectors into {args.collection} in {elapsed:.1f} s ({done / elapsed:,.0f} vectors/s)")
    return done


async def _create(http: aiohttp.ClientSession, args: argparse.Namespace, batches: Iterator) -> None:
    first, _ = next(batches)
    width = first.shape[1]
    dimension = width * 8 if first.dtype == np.uint8 else width
    body = {"collection_name": args.collection, "dimension": dimension, "metric_type": args.create}
    async with http.post(f"{args.url.rstrip('/')}/collections", data=orjson.dumps(body)) as response:
        if response.status != 201:
            raise SystemExit(f"could not create {args.collection}: {await response.text()}")


async def _post(http: aiohttp.ClientSession, url: str, body: bytes, partition_tag: str) -> int:
    params = {"partition_tag": partition_tag} if partition_tag else {}
    async with http.post(f"{url}/vectors", data=body, params=params, headers={"Content-Type": bulk.ARROW}) as response:
        reply = await response.json(content_type=None)
        if response.status != 201:
            raise SystemExit(f"insert failed ({response.status}): {reply}")
        return int(reply["count"])


def _advance(bar: tqdm, finished: set[asyncio.Task[int]]) -> int:
    count = sum(task.result() for task in finished)
    bar.update(count)
    return count


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except QuiverError as error:
        sys.exit(f"quiver import: {error.message}")
    except aiohttp.ClientError as error:
        sys.exit(f"quiver import: cannot reach {args.url}: {error}")
