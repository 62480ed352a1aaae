"""`quiver coordinator`: flags and environment into a config, then serve until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from coordinator.catalog import Catalog
from coordinator.datanodes import DataNodes
from coordinator.server import CoordinatorServer
from coordinator.service import CoordinatorService
from quiver import config, runtime
from quiver.rpc import Channels, start_server
from quiver_pb.coordinator_pb2_grpc import add_CoordinatorServicer_to_server

log = logging.getLogger("coordinator")


@dataclass(frozen=True)
class CoordinatorConfig:
    host: str
    port: int
    advertise_host: str
    redis_url: str
    node_ttl_s: float
    min_build_rows: int
    root_password: str
    ready_file: str
    log_level: str


def parse_args(argv: list[str] | None = None) -> CoordinatorConfig:
    parser = argparse.ArgumentParser(prog="quiver coordinator", description=__doc__)
    config.add_server_args(parser, default_port=19100)
    parser.add_argument("--redis-url", default=config.env("REDIS_URL", config.DEFAULT_REDIS_URL))
    parser.add_argument(
        "--node-ttl",
        type=float,
        default=config.env_float("NODE_TTL", 4.0),
        help="seconds without a heartbeat before a node is marked down",
    )
    parser.add_argument(
        "--index-min-rows",
        type=int,
        default=config.env_int("INDEX_MIN_ROWS", 4096),
        help="sealed segments with fewer rows are not indexed: brute force is as fast",
    )
    parser.add_argument(
        "--root-password",
        default=config.env("ROOT_PASSWORD", "Milvus"),
        help="password of the root user created on the first start (Milvus' default: Milvus)",
    )
    args = parser.parse_args(argv)
    return CoordinatorConfig(
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        redis_url=args.redis_url,
        node_ttl_s=args.node_ttl,
        min_build_rows=args.index_min_rows,
        root_password=args.root_password,
        ready_file=args.ready_file,
        log_level=args.log_level,
    )


async def wait_for_redis(redis: Redis, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await redis.ping()
            return
        except Exception as error:  # connection refused, loading the AOF, ...
            log.warning("waiting for Redis: %s", error)
            await asyncio.sleep(0.5)


async def serve(cfg: CoordinatorConfig, stop: asyncio.Event) -> None:
    redis = Redis.from_url(cfg.redis_url, decode_responses=True)
    channels = Channels()
    try:
        await wait_for_redis(redis, stop)
        service = CoordinatorService(
            Catalog(redis), DataNodes(channels), cfg.node_ttl_s, cfg.min_build_rows
        )
        await service.ensure_root(cfg.root_password)
        server, port = await start_server(
            lambda s: add_CoordinatorServicer_to_server(CoordinatorServer(service), s),
            cfg.host,
            cfg.port,
        )
        address = runtime.advertised(cfg.host, cfg.advertise_host, port)
        log.info("coordinator serving on %s (redis %s)", address, cfg.redis_url)
        runtime.write_ready_file(cfg.ready_file, address=address)
        liveness = asyncio.create_task(service.watch_liveness(stop))
        await stop.wait()
        log.info("coordinator stopping")
        await server.stop(grace=2)
        await liveness
    finally:
        await channels.close()
        await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    runtime.run("coordinator", cfg.log_level, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
