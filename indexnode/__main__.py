"""`quiver indexnode`: builds indexes from the build stream until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass

import faiss

from indexnode.server import IndexNodeServer
from indexnode.worker import BuildWorker
from quiver import config, redisconn, runtime
from quiver.objectstore import ObjectStore, ObjectStoreConfig, add_object_store_args, object_store_config
from quiver.devices import local_node
from quiver.membership import Membership
from quiver.redisconn import RedisConfig, add_redis_args, redis_config
from quiver.rpc import Channels, start_server
from quiver.schema import NodeRole
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.indexnode_pb2_grpc import add_IndexNodeServicer_to_server

log = logging.getLogger("indexnode")


@dataclass(frozen=True)
class IndexNodeConfig:
    host: str
    port: int
    advertise_host: str
    coordinator: str
    redis: RedisConfig
    node_id: str
    heartbeat_s: float
    claim_timeout_s: float
    build_threads: int
    use_gpu: bool
    object_store: ObjectStoreConfig
    process: config.ProcessConfig


def parse_args(argv: list[str] | None = None) -> IndexNodeConfig:
    parser = argparse.ArgumentParser(prog="quiver indexnode", description=__doc__)
    config.add_server_args(parser, default_port=19300)
    config.add_coordinator_arg(parser)
    parser.add_argument(
        "--node-id",
        default=config.env("NODE_ID", ""),
        help="name of this node (default: indexnode-<host>-<random>; index nodes are stateless)",
    )
    add_redis_args(parser)
    parser.add_argument("--heartbeat", type=float, default=config.env_float("HEARTBEAT", 1.0))
    parser.add_argument(
        "--claim-timeout",
        type=float,
        default=config.env_float("CLAIM_TIMEOUT", 30.0),
        help="seconds a task of a silent index node waits before another node builds it",
    )
    parser.add_argument(
        "--build-threads",
        type=int,
        default=config.env_int("BUILD_THREADS", os.cpu_count() or 1),
        help="threads faiss builds with (default: every core)",
    )
    parser.add_argument(
        "--no-gpu",
        action="store_true",
        default=config.env("NO_GPU", "") not in ("", "0", "false"),
        help="build on the CPU even where faiss sees a GPU",
    )
    add_object_store_args(parser)
    args = parser.parse_args(argv)
    return IndexNodeConfig(
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        coordinator=args.coordinator,
        redis=redis_config(args),
        node_id=args.node_id or f"indexnode-{socket.gethostname()}-{secrets.token_hex(3)}",
        heartbeat_s=args.heartbeat,
        claim_timeout_s=args.claim_timeout,
        build_threads=args.build_threads,
        use_gpu=not args.no_gpu,
        object_store=object_store_config(args),
        process=config.process_config(args),
    )


async def serve(cfg: IndexNodeConfig, stop: asyncio.Event) -> None:
    store = ObjectStore.open(cfg.object_store)
    await store.check()  # an unreachable bucket stops the node here, naming it
    redis = await redisconn.connect(cfg.redis)  # so do sentinels that name no primary
    channels = Channels()
    faiss.omp_set_num_threads(cfg.build_threads)
    try:
        servicer = IndexNodeServer()
        server, port = await start_server(
            lambda s: add_IndexNodeServicer_to_server(servicer, s), cfg.host, cfg.port
        )
        address = runtime.advertised(cfg.host, cfg.advertise_host, port)
        node = servicer.node = local_node(cfg.node_id, NodeRole.INDEX, address, cfg.use_gpu)
        coordinator = CoordinatorStub(channels.get(cfg.coordinator))
        worker = BuildWorker(redis, store, coordinator, channels, cfg.node_id, cfg.claim_timeout_s, node.gpu_count)
        membership = Membership(coordinator, node, cfg.heartbeat_s, apply_config=worker.apply_config)
        async with runtime.ops_endpoints(cfg.host, cfg.process, stop, membership.ready) as ops:
            await membership.register(stop)
            log.info("index node %s serving on %s (%d GPUs)", cfg.node_id, node.address, node.gpu_count)
            runtime.write_ready_file(cfg.process.ready_file, address=node.address, node_id=cfg.node_id, ops_port=ops)
            tasks = [asyncio.create_task(membership.run(stop)), asyncio.create_task(worker.run(stop))]
            await stop.wait()
            await server.stop(grace=2)
            tasks[1].cancel()  # a build in flight stays pending: another node takes it over
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await channels.close()
        await redisconn.close(redis)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    runtime.run("indexnode", cfg.process, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
