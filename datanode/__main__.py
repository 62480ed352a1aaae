"""`quiver datanode`: flags and environment into a config, recover, then serve until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from datanode.objects import SegmentObjects
from datanode.server import DataNodeServer, GrpcCoordinatorLink
from datanode.service import DataNodeService
from quiver import config, runtime
from quiver.devices import local_node
from quiver.log import Log, LogConfig, add_log_args, log_config
from quiver.membership import Membership
from quiver.objectstore import ObjectStore, ObjectStoreConfig, add_object_store_args, object_store_config
from quiver.rpc import Channels, call, start_server
from quiver.schema import NodeRole
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.datanode_pb2_grpc import add_DataNodeServicer_to_server

log = logging.getLogger("datanode")

# How often a data node retries what is only in the log: uploads that failed while the object
# store was away, and delete bitmaps not yet uploaded.
PERSIST_INTERVAL_S = 5.0
DRAIN_POLL_S = 1.0  # --drain asks how many channels are left this often


@dataclass(frozen=True)
class DataNodeConfig:
    host: str
    port: int
    advertise_host: str
    coordinator: str
    data_dir: Path
    node_id: str
    heartbeat_s: float
    search_threads: int
    drain: bool
    object_store: ObjectStoreConfig
    log: LogConfig
    process: config.ProcessConfig


def parse_args(argv: list[str] | None = None) -> DataNodeConfig:
    parser = argparse.ArgumentParser(prog="quiver datanode", description=__doc__)
    config.add_server_args(parser, default_port=19200)
    config.add_coordinator_arg(parser)
    add_object_store_args(parser)
    add_log_args(parser)
    parser.add_argument("--data-dir", default=config.env("DATA_DIR", "./quiver-data/datanode"))
    parser.add_argument(
        "--node-id",
        default=config.env("NODE_ID", ""),
        help="stable name of this node (default: kept in DATA_DIR/node_id, generated once)",
    )
    parser.add_argument("--heartbeat", type=float, default=config.env_float("HEARTBEAT", 1.0))
    parser.add_argument(
        "--drain",
        action="store_true",
        help="do not serve: have the coordinator move this node's channels to other data nodes, and "
        "return once none is left (before the node is removed; Kubernetes' preStop hook runs it)",
    )
    parser.add_argument(
        "--search-threads", type=int, default=config.env_int("SEARCH_THREADS", os.cpu_count() or 2)
    )
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    return DataNodeConfig(
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        coordinator=args.coordinator,
        data_dir=data_dir,
        node_id=args.node_id or stored_node_id(data_dir),
        heartbeat_s=args.heartbeat,
        search_threads=args.search_threads,
        drain=args.drain,
        object_store=object_store_config(args),
        log=log_config(args),
        process=config.process_config(args),
    )


def stored_node_id(data_dir: Path) -> str:
    """The node id kept in the data dir, so a restarted node is the same node."""
    path = data_dir / "node_id"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    node_id = f"datanode-{secrets.token_hex(4)}"
    path.write_text(node_id + "\n")
    return node_id


async def serve(cfg: DataNodeConfig, stop: asyncio.Event) -> None:
    store = ObjectStore.open(cfg.object_store)
    await store.check()  # an unreachable bucket stops the node here, naming it
    log_ = await Log.connect(cfg.log, name=cfg.node_id)  # and so does an unreachable log
    channels = Channels()
    coordinator = CoordinatorStub(channels.get(cfg.coordinator))
    service = DataNodeService(
        cfg.node_id,
        cfg.data_dir,
        GrpcCoordinatorLink(coordinator, cfg.node_id),
        SegmentObjects(store),
        log_,
        cfg.search_threads,
    )
    try:
        await service.start()
        server, port = await start_server(
            lambda s: add_DataNodeServicer_to_server(DataNodeServer(service), s), cfg.host, cfg.port
        )
        address = runtime.advertised(cfg.host, cfg.advertise_host, port)
        node = local_node(cfg.node_id, NodeRole.DATA, address)
        membership = Membership(
            coordinator,
            node,
            cfg.heartbeat_s,
            service.segment_infos,
            service.drop_segments,
            service.keep_indexes,
            service.apply_config,
            service.restore,
            service.channel_positions,
            service.serve_channels,
        )
        service.channels.refresh = membership.heartbeat_now
        async with runtime.ops_endpoints(cfg.host, cfg.process, stop, membership.ready, service.collect_metrics) as ops:
            await membership.register(stop)
            log.info("data node %s serving on %s (data in %s)", cfg.node_id, node.address, cfg.data_dir)
            runtime.write_ready_file(cfg.process.ready_file, address=node.address, node_id=cfg.node_id, ops_port=ops)
            background = [
                asyncio.create_task(membership.run(stop)),
                asyncio.create_task(service.persist_periodically(stop, PERSIST_INTERVAL_S)),
            ]
            await stop.wait()
            log.info("data node stopping")
            await server.stop(grace=5)
            await asyncio.gather(*background)
    finally:
        await service.stop()
        await channels.close()
        await log_.close()


async def drain(cfg: DataNodeConfig, stop: asyncio.Event) -> None:
    """Asks the coordinator to drain this node until no channel is left on it (each ask names
    it draining again: a registration in between would have ended the drain)."""
    channels = Channels()
    coordinator = CoordinatorStub(channels.get(cfg.coordinator))
    try:
        while not stop.is_set():
            reply = await call(coordinator.DrainNode, cpb.DrainRequest(node_id=cfg.node_id), peer="coordinator")
            if reply.channels_left == 0:
                log.info("data node %s is drained: it can be removed", cfg.node_id)
                return
            log.info("draining data node %s: %d channels left", cfg.node_id, reply.channels_left)
            await runtime.first_of(stop, timeout_s=DRAIN_POLL_S)
    finally:
        await channels.close()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    if cfg.drain:
        runtime.run("datanode", cfg.process, lambda stop: drain(cfg, stop))
        return
    runtime.run("datanode", cfg.process, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
