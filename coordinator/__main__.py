"""`quiver coordinator`: flags and environment into a config, then serve until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from dataclasses import dataclass

from redis.asyncio import Redis

from coordinator.catalog import Catalog
from coordinator.garbage import ORPHAN_SWEEP_S, GarbageCollector
from coordinator.datanodes import DataNodes
from coordinator.lease import Lease, LeaseLost
from coordinator.server import CoordinatorServer
from coordinator.service import CoordinatorService
from coordinator.users import DEFAULT_ROOT_PASSWORD, Users
from quiver import config, redisconn, runtime
from quiver.log import Log, LogConfig, add_log_args, log_config
from quiver.objectstore import ObjectStore, ObjectStoreConfig, add_object_store_args, object_store_config
from quiver.redisconn import RedisConfig, add_redis_args, redis_config
from quiver.rpc import Channels, start_server
from quiver_pb.coordinator_pb2_grpc import add_CoordinatorServicer_to_server

log = logging.getLogger("coordinator")

GC_INTERVAL_S = 10.0  # how often due object-store garbage is deleted (at most the grace period)
LOG_TRUNCATE_INTERVAL_S = 10.0  # how often the log drops what the channels' checkpoints passed


@dataclass(frozen=True)
class CoordinatorConfig:
    host: str
    port: int
    advertise_host: str
    redis: RedisConfig
    node_ttl_s: float
    min_build_rows: int
    root_password: str
    lease_ttl_s: float
    auto_compact_s: float
    gc_grace_s: float
    gc_orphan_sweep_s: float
    object_store: ObjectStoreConfig
    log: LogConfig
    process: config.ProcessConfig


def parse_args(argv: list[str] | None = None) -> CoordinatorConfig:
    parser = argparse.ArgumentParser(prog="quiver coordinator", description=__doc__)
    config.add_server_args(parser, default_port=19100)
    add_redis_args(parser)
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
        default=config.env("ROOT_PASSWORD", DEFAULT_ROOT_PASSWORD),
        help="password of the root user created on the first start (Milvus' default: Milvus)",
    )
    parser.add_argument(
        "--lease-ttl",
        type=float,
        default=config.env_float("LEASE_TTL", 5.0),
        help="seconds a standby coordinator waits after the active one stops renewing its lease",
    )
    parser.add_argument(
        "--auto-compact-interval",
        type=float,
        default=config.env_float("AUTO_COMPACT_INTERVAL", 60.0),
        help="seconds between looks for segments worth compacting unasked (0: never)",
    )
    parser.add_argument(
        "--gc-grace",
        type=float,
        default=config.env_float("GC_GRACE", 60.0),
        help="seconds the object-store files of dropped segments and indexes are kept for readers still on them",
    )
    parser.add_argument(
        "--gc-orphan-sweep",
        type=float,
        default=config.env_float("GC_ORPHAN_SWEEP", ORPHAN_SWEEP_S),
        help="seconds between sweeps of the bucket for files of segments the catalogue never recorded",
    )
    add_object_store_args(parser)
    add_log_args(parser)
    args = parser.parse_args(argv)
    return CoordinatorConfig(
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        redis=redis_config(args),
        node_ttl_s=args.node_ttl,
        min_build_rows=args.index_min_rows,
        root_password=args.root_password,
        lease_ttl_s=args.lease_ttl,
        auto_compact_s=args.auto_compact_interval,
        gc_grace_s=args.gc_grace,
        gc_orphan_sweep_s=args.gc_orphan_sweep,
        object_store=object_store_config(args),
        log=log_config(args),
        process=config.process_config(args),
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
    log_ = await Log.connect(cfg.log, name="coordinator")  # unreachable: stops here, naming it
    await log_.ensure_stream()
    redis = await redisconn.connect(cfg.redis)  # no sentinel names a primary: stops here, naming them
    channels = Channels()
    catalog = Catalog(redis, cfg.gc_grace_s, wait_for_replica=cfg.redis.sentinel)
    store = ObjectStore.open(cfg.object_store)
    # A coordinator on any free port has no stable address: it is named by its process.
    stable = runtime.advertised(cfg.host, cfg.advertise_host, cfg.port)
    lease = Lease(catalog, cfg.lease_ttl_s, stable if cfg.port else f"{socket.gethostname()}:{os.getpid()}")
    service = CoordinatorService(
        catalog, DataNodes(channels), log_, cfg.node_ttl_s, cfg.min_build_rows, auto_compact_s=cfg.auto_compact_s
    )
    users = Users(catalog)

    async def ready() -> tuple[bool, str]:
        if not lease.held:
            return False, "standby: another coordinator holds the lease"
        return await service.ready()

    try:
        async with runtime.ops_endpoints(cfg.host, cfg.process, stop, ready, service.collect_metrics) as ops:
            await wait_for_redis(redis, stop)
            if not await lease.acquire(stop):
                return
            revived = await catalog.presume_alive(cfg.node_ttl_s)
            if revived:
                log.info("nodes alive when the last coordinator stopped: %s", ", ".join(revived))
            notice = await users.ensure_root(cfg.root_password)
            server, port = await start_server(
                lambda s: add_CoordinatorServicer_to_server(CoordinatorServer(service, users), s),
                cfg.host,
                cfg.port,
            )
            address = runtime.advertised(cfg.host, cfg.advertise_host, port)
            log.info("coordinator serving on %s (redis %s)", address, cfg.redis.describe())
            runtime.write_ready_file(cfg.process.ready_file, address=address, ops_port=ops, notice=notice)
            keeper = asyncio.create_task(lease.keep(stop))
            liveness = asyncio.create_task(service.membership.watch_liveness(stop))
            compacting = asyncio.create_task(service.compactor.compact_periodically(stop))
            collecting = asyncio.create_task(
                GarbageCollector(
                    catalog, store, max(1.0, min(cfg.gc_grace_s, GC_INTERVAL_S)), cfg.gc_grace_s, cfg.gc_orphan_sweep_s
                ).run(stop)
            )
            truncating = asyncio.create_task(service.truncate_log_periodically(stop, LOG_TRUNCATE_INTERVAL_S))
            await asyncio.wait([keeper, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            log.info("coordinator stopping")
            stop.set()
            await server.stop(grace=5)
            await liveness
            await compacting  # a compaction under way finishes: its outcome must be recorded
            await collecting
            await truncating
            await keeper  # raises LeaseLost when that is why it stops
    finally:
        await channels.close()
        await redisconn.close(redis)
        await log_.close()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    try:
        runtime.run("coordinator", cfg.process, lambda stop: serve(cfg, stop))
    except LeaseLost as lost:
        log.error("stopped: %s", lost)
        sys.exit(1)


if __name__ == "__main__":
    main()
