"""`quiver indexnode`: registers with the coordinator and heartbeats until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass

import psutil

from indexnode.server import IndexNodeServer
from quiver import config, runtime
from quiver.ids import now_ms
from quiver.membership import Membership
from quiver.rpc import Channels, start_server
from quiver.schema import Node, NodeRole
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.indexnode_pb2_grpc import add_IndexNodeServicer_to_server

log = logging.getLogger("indexnode")


@dataclass(frozen=True)
class IndexNodeConfig:
    host: str
    port: int
    advertise_host: str
    coordinator: str
    node_id: str
    heartbeat_s: float
    ready_file: str
    log_level: str


def parse_args(argv: list[str] | None = None) -> IndexNodeConfig:
    parser = argparse.ArgumentParser(prog="quiver indexnode", description=__doc__)
    config.add_server_args(parser, default_port=19300)
    config.add_coordinator_arg(parser)
    parser.add_argument(
        "--node-id",
        default=config.env("NODE_ID", ""),
        help="name of this node (default: indexnode-<host>-<random>; index nodes are stateless)",
    )
    parser.add_argument("--heartbeat", type=float, default=config.env_float("HEARTBEAT", 1.0))
    args = parser.parse_args(argv)
    return IndexNodeConfig(
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        coordinator=args.coordinator,
        node_id=args.node_id or f"indexnode-{socket.gethostname()}-{secrets.token_hex(3)}",
        heartbeat_s=args.heartbeat,
        ready_file=args.ready_file,
        log_level=args.log_level,
    )


async def serve(cfg: IndexNodeConfig, stop: asyncio.Event) -> None:
    channels = Channels()
    try:
        servicer = IndexNodeServer()
        server, port = await start_server(
            lambda s: add_IndexNodeServicer_to_server(servicer, s), cfg.host, cfg.port
        )
        node = servicer.node = Node(
            node_id=cfg.node_id,
            role=NodeRole.INDEX,
            address=runtime.advertised(cfg.host, cfg.advertise_host, port),
            started_ms=now_ms(),
            memory_bytes=psutil.virtual_memory().total,
            cpu_count=os.cpu_count() or 1,
        )
        membership = Membership(CoordinatorStub(channels.get(cfg.coordinator)), node, cfg.heartbeat_s)
        await membership.register(stop)
        log.info("index node %s serving on %s", cfg.node_id, node.address)
        runtime.write_ready_file(cfg.ready_file, address=node.address, node_id=cfg.node_id)
        heartbeat = asyncio.create_task(membership.run(stop))
        await stop.wait()
        await server.stop(grace=2)
        await heartbeat
    finally:
        await channels.close()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    runtime.run("indexnode", cfg.log_level, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
