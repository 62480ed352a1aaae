"""`quiver ingestnode`: managed document indexes (directories, files, indexes, syncs, retrieval)
until SIGTERM.

Ingest nodes keep their state in Redis and file bytes under --data-dir; run several and they
share the work (one sync per index at a time), provided they all mount the same --data-dir.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingestnode.blobs import BlobStore
from ingestnode.files import FileLibrary
from ingestnode.retrieval import Retriever
from ingestnode.scheduler import SyncScheduler
from ingestnode.server import IngestNodeServer
from ingestnode.service import IngestService, IngestSettings
from ingestnode.store import ManagedStore
from ingestnode.sync import SyncSettings, SyncWorker
from managed.embedding import Embedder, EmbeddingPool, available_cpus
from quiver import config, redisconn, runtime
from quiver.cluster import ClusterClient
from quiver.log import LogConfig, add_log_args, log_config
from quiver.redisconn import RedisConfig, add_redis_args, redis_config
from quiver.rpc import start_server
from quiver_pb.ingestnode_pb2_grpc import add_IngestNodeServicer_to_server

log = logging.getLogger("ingestnode")


@dataclass(frozen=True)
class IngestNodeConfig:
    host: str
    port: int
    advertise_host: str
    coordinator: str
    log: LogConfig
    redis: RedisConfig
    node_id: str
    data_dir: Path
    import_root: Path | None
    max_import_bytes: int
    claim_timeout_s: float
    lease_ttl_s: float
    source_change_delay_s: float
    daily_period_s: float
    schedule_poll_s: float
    embed_batch: int
    embed_threads: int
    embedding_model: str | None
    process: config.ProcessConfig


def parse_args(argv: list[str] | None = None) -> IngestNodeConfig:
    parser = argparse.ArgumentParser(prog="quiver ingestnode", description=__doc__)
    config.add_server_args(parser, default_port=19400)
    config.add_coordinator_arg(parser)
    add_log_args(parser)
    add_redis_args(parser)
    parser.add_argument(
        "--node-id",
        default=config.env("NODE_ID", ""),
        help="name of this node (default: ingestnode-<host>-<random>)",
    )
    parser.add_argument(
        "--data-dir",
        default=config.env("DATA_DIR", "./quiver-ingest"),
        help="uploaded files and attachments; every ingest node must mount the same one",
    )
    parser.add_argument(
        "--import-root",
        default=config.env("IMPORT_ROOT", ""),
        help="server-side folder that directory imports may read below (default: imports disabled)",
    )
    parser.add_argument("--max-import-mb", type=int, default=config.env_int("MAX_IMPORT_MB", 1024),
                        help="files larger than this are skipped by imports")
    parser.add_argument(
        "--claim-timeout",
        type=float,
        default=config.env_float("CLAIM_TIMEOUT", 30.0),
        help="seconds the sync of a silent ingest node waits before another node runs it",
    )
    parser.add_argument("--lease-ttl", type=float, default=config.env_float("LEASE_TTL", 30.0),
                        help="seconds an index's sync lease outlives its last renewal")
    parser.add_argument(
        "--source-change-delay",
        type=float,
        default=config.env_float("SOURCE_CHANGE_DELAY", 5.0),
        help="on_source_change indexes sync this many seconds after the last change",
    )
    parser.add_argument("--daily-period", type=float, default=config.env_float("DAILY_PERIOD", 86400.0),
                        help="seconds between the syncs of a daily index")
    parser.add_argument("--schedule-poll", type=float, default=config.env_float("SCHEDULE_POLL", 1.0),
                        help="seconds between looks for due scheduled syncs")
    parser.add_argument("--embed-batch", type=int, default=config.env_int("EMBED_BATCH", 32),
                        help="chunks embedded at once (the cancel flag is checked between batches)")
    parser.add_argument("--embed-threads", type=int, default=config.env_int("EMBED_THREADS", available_cpus()),
                        help="threads of the embedding worker")
    parser.add_argument(
        "--embedding-model",
        default=config.env("EMBEDDING_MODEL", ""),
        help="a local sentence-transformers model folder to embed with, 384 dimensions "
        "(needs the torch extra; default: the bundled all-MiniLM-L6-v2 on ONNX Runtime)",
    )
    args = parser.parse_args(argv)
    return IngestNodeConfig(
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        coordinator=args.coordinator,
        log=log_config(args),
        redis=redis_config(args),
        node_id=args.node_id or f"ingestnode-{socket.gethostname()}-{secrets.token_hex(3)}",
        data_dir=Path(args.data_dir),
        import_root=Path(args.import_root).resolve() if args.import_root else None,
        max_import_bytes=args.max_import_mb * 1024 * 1024,
        claim_timeout_s=args.claim_timeout,
        lease_ttl_s=args.lease_ttl,
        source_change_delay_s=args.source_change_delay,
        daily_period_s=args.daily_period,
        schedule_poll_s=args.schedule_poll,
        embed_batch=args.embed_batch,
        embed_threads=args.embed_threads,
        embedding_model=args.embedding_model or None,
        process=config.process_config(args),
    )


async def serve(cfg: IngestNodeConfig, stop: asyncio.Event) -> None:
    redis = await redisconn.connect(cfg.redis)  # sentinels that name no primary stop the node here
    cluster = ClusterClient(cfg.coordinator, cfg.log, name=cfg.node_id)
    await cluster.connect()  # an unreachable log stops the node here, naming it
    follower = asyncio.create_task(cluster.follow_catalog(stop))
    # Syncs embed in a worker process (started on the first sync, not now: most nodes of a
    # test cluster never embed); queries embed in a thread of this one, so that a long sync
    # never queues them. Each loads the model once, on first use.
    pool = EmbeddingPool(workers=1, threads_per_worker=cfg.embed_threads, model_dir=cfg.embedding_model)
    query_embedder = Embedder(cfg.embed_threads, cfg.embedding_model)

    async def embed_query(text: str) -> np.ndarray:
        return (await asyncio.to_thread(query_embedder.embed, [text]))[0]

    warming: list[asyncio.Task[None]] = []

    async def embed_chunks(texts: list[str]) -> np.ndarray:
        if not warming:  # the index syncing now is queried next: load the query model meanwhile
            warming.append(asyncio.create_task(asyncio.to_thread(query_embedder.load)))
        return await pool.embed(texts, cfg.embed_batch)

    store = ManagedStore(redis)
    files = FileLibrary(store, BlobStore(cfg.data_dir))
    service = IngestService(store, files, cluster, IngestSettings(
        cfg.import_root, cfg.source_change_delay_s, cfg.max_import_bytes))
    worker = SyncWorker(store, files, cluster, embed_chunks, SyncSettings(
        cfg.node_id, cfg.claim_timeout_s, cfg.lease_ttl_s, cfg.daily_period_s, cfg.embed_batch))
    scheduler = SyncScheduler(store, cfg.schedule_poll_s, retry_s=cfg.source_change_delay_s)

    async def ready() -> tuple[bool, str]:
        try:
            await store.ping()
        except Exception as error:  # any Redis failure means the same: not ready
            return False, f"redis: {error}"
        return await cluster.ready()

    try:
        async with runtime.ops_endpoints(cfg.host, cfg.process, stop, ready) as ops:
            servicer = IngestNodeServer(service, Retriever(service, cluster, embed_query))
            server, port = await start_server(
                lambda s: add_IngestNodeServicer_to_server(servicer, s), cfg.host, cfg.port
            )
            address = runtime.advertised(cfg.host, cfg.advertise_host, port)
            log.info("ingest node %s serving on %s (files in %s)", cfg.node_id, address, cfg.data_dir.resolve())
            runtime.write_ready_file(cfg.process.ready_file, address=address, node_id=cfg.node_id, ops_port=ops)
            tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(scheduler.run(stop))]
            await stop.wait()
            log.info("ingest node stopping")
            await server.stop(grace=5)
            tasks[0].cancel()  # a sync in flight stays pending: another node takes it over
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await pool.close()
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await cluster.close()
        await redisconn.close(redis)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    runtime.run("ingestnode", cfg.process, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
