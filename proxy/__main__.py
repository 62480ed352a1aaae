"""`quiver proxy`: serves the REST surfaces until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from proxy import docs
from proxy.http import observe
from proxy.surfaces import managed, v1, v2
from proxy.surfaces.auth import Access, Credentials, RateLimiter
from proxy.surfaces.limits import DATA_BODY_BYTES, DEFAULT_INSERT_BODY_BYTES, MIB
from quiver import config, runtime
from quiver.cluster import ClusterClient
from quiver.log import LogConfig, add_log_args, log_config
from quiver.ports import naming_a_taken_port

log = logging.getLogger("proxy")
WORKER_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ProxyConfig:
    host: str
    v1_port: int
    http_port: int
    coordinator: str
    log: LogConfig
    max_body_bytes: int
    max_upload_bytes: int
    auth: bool
    rate_limit: float
    rate_burst: int
    access_log_sample: float
    ingest_nodes: tuple[str, ...]
    processes: int
    reuse_port: bool
    process: config.ProcessConfig
    argv: tuple[str, ...]  # as given: the workers of --processes start with the same flags


def parse_args(argv: list[str] | None = None) -> ProxyConfig:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="quiver proxy", description=__doc__)
    parser.add_argument("--host", default=config.env("HOST", "0.0.0.0"), help="address to bind")
    parser.add_argument(
        "--v1-port", type=int, default=config.env_int("V1_PORT", 19121), help="Milvus 0.x REST port"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=config.env_int("HTTP_PORT", 19530),
        help="Milvus 2.x REST v2 and managed-index port",
    )
    config.add_coordinator_arg(parser)
    add_log_args(parser)
    parser.add_argument(
        "--ingestnode",
        default=config.env("INGESTNODE", ""),
        help="host:port of the ingest nodes that serve managed indexes (/api/v1), comma-separated",
    )
    parser.add_argument(
        "--max-body-mb",
        type=int,
        default=config.env_int("MAX_BODY_MB", DEFAULT_INSERT_BODY_BYTES // MIB),
        help="largest body of a Milvus 0.x insert (other bodies take at most 64 MB or 1 MB)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=int,
        default=config.env_int("MAX_UPLOAD_MB", 1024),
        help="largest document uploaded to a managed index",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        default=config.env("NO_AUTH", "") not in ("", "0", "false"),
        help="serve the REST v2 and managed-index APIs without credentials (they are required by default)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=config.env_float("RATE_LIMIT", 0.0),
        help="requests a second per user (per client address on the 0.x API); 0: no limit",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=config.env_int("RATE_BURST", 0),
        help="requests a user may make at once above the rate (0: twice the rate)",
    )
    parser.add_argument(
        "--access-log-sample",
        type=float,
        default=config.env_float("ACCESS_LOG_SAMPLE", 1.0),
        help="fraction of requests written to the access log at info level, one line each "
        "(method, path, status, duration, request id), chosen at random: 1 every one, 0 none",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=config.env_int("PROXY_PROCESSES", 1),
        help="serve from this many processes sharing the ports (SO_REUSEPORT), on a machine with the cores",
    )
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # a worker of --processes
    config.add_process_args(parser)
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if not 0.0 <= args.access_log_sample <= 1.0:
        parser.error("--access-log-sample must be between 0 and 1")
    return ProxyConfig(
        host=args.host,
        v1_port=args.v1_port,
        http_port=args.http_port,
        coordinator=args.coordinator,
        log=log_config(args),
        max_body_bytes=args.max_body_mb * MIB,
        max_upload_bytes=args.max_upload_mb * MIB,
        auth=not args.no_auth,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        access_log_sample=args.access_log_sample,
        ingest_nodes=tuple(a.strip() for a in args.ingestnode.split(",") if a.strip()),
        processes=args.processes,
        reuse_port=args.reuse_port or args.processes > 1,
        process=config.process_config(args),
        argv=tuple(argv),
    )


def v1_app(cluster: ClusterClient, cfg: ProxyConfig, limiter: RateLimiter) -> web.Application:
    """The :19121 surface, Milvus 0.x REST, and its Swagger UI at /docs."""
    app = v1.create_app(cluster, cfg.max_body_bytes, Access(None, limiter), cfg.access_log_sample)
    docs.add_routes(app, "Quiver: Milvus 0.x REST API", {"Milvus 0.x REST API": "openapi.json"})
    return app


def http_app(cluster: ClusterClient, cfg: ProxyConfig, limiter: RateLimiter) -> web.Application:
    """The :19530 surfaces: Milvus REST v2 and managed document indexes (LlamaCloud's API),
    which share their users, credential checks and rate limits; Swagger UI over both at /docs."""
    app = web.Application(client_max_size=DATA_BODY_BYTES, middlewares=[observe("http", cfg.access_log_sample)])
    access = Access(Credentials(cluster, limiter) if cfg.auth else None, limiter)
    v2.add_routes(app, cluster, access)
    managed.add_routes(app, cluster, managed.ManagedSettings(cfg.ingest_nodes, cfg.max_upload_bytes), access)
    docs.add_routes(app, "Quiver: Milvus REST v2 and managed indexes", {
        "Milvus REST v2": "v2/vectordb/openapi.json",
        "Managed document indexes (LlamaCloud's API)": "api/v1/openapi.json",
    })
    return app


async def serve(cfg: ProxyConfig, stop: asyncio.Event) -> None:
    cluster = ClusterClient(cfg.coordinator, cfg.log, name=f"proxy-{os.getpid()}")
    await cluster.connect()  # an unreachable log stops the proxy here, naming it
    follower = asyncio.create_task(cluster.follow_catalog(stop))
    runners: list[web.AppRunner] = []
    limiter = RateLimiter(cfg.rate_limit, cfg.rate_burst)
    try:
        ports = {}
        for label, app, port, what, flag in (
            ("v1", v1_app(cluster, cfg, limiter), cfg.v1_port, "Milvus 0.x REST", "--v1-port"),
            ("http", http_app(cluster, cfg, limiter), cfg.http_port, "REST v2 and managed indexes", "--http-port"),
        ):
            # Long request lines: GET .../vectors?ids= takes up to 1000 ids of 19 digits.
            # On SIGTERM: stop accepting, give requests in flight up to 20 s (inside Kubernetes'
            # default 30 s grace period).
            runner = web.AppRunner(app, access_log=None, max_line_size=65536, shutdown_timeout=20)
            await runner.setup()
            runners.append(runner)
            with naming_a_taken_port(port, cfg.host, what, flag):
                sock = socket.create_server((cfg.host, port), reuse_port=cfg.reuse_port)  # port 0: a free one
            await web.SockSite(runner, sock).start()
            ports[label] = sock.getsockname()[1]
        workers = await start_workers(cfg, ports)
        async with runtime.ops_endpoints(cfg.host, cfg.process, stop, cluster.ready) as ops:
            log.info("proxy serving Milvus 0.x REST on :%d, HTTP on :%d%s", ports["v1"], ports["http"],
                     f" from {cfg.processes} processes" if workers else "")
            runtime.write_ready_file(
                cfg.process.ready_file, v1_port=ports["v1"], http_port=ports["http"], ops_port=ops
            )
            await stop.wait()
            log.info("proxy stopping: finishing requests in flight")
            await stop_workers(workers)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await cluster.close()


async def start_workers(cfg: ProxyConfig, ports: dict[str, int]) -> list[asyncio.subprocess.Process]:
    """More proxy processes bound to the same ports: the kernel spreads connections over them
    (SO_REUSEPORT), so the REST surfaces use more than one core. Each has its own credential
    cache and rate limits, and its own ops port (any free one). Returns once all serve."""
    workers = []
    with tempfile.TemporaryDirectory(prefix="quiver-proxy-") as folder:
        ready_files = [Path(folder) / f"worker-{i}.json" for i in range(1, cfg.processes)]
        for ready_file in ready_files:
            flags = ["--v1-port", str(ports["v1"]), "--http-port", str(ports["http"]), "--processes", "1",
                     "--reuse-port", "--ready-file", str(ready_file), "--ops-port", "0"]  # the last flag wins
            workers.append(await asyncio.create_subprocess_exec(sys.executable, "-m", "proxy", *cfg.argv, *flags))
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while not all(f.exists() for f in ready_files):
            if any(w.returncode is not None for w in workers) or time.monotonic() > deadline:
                await stop_workers(workers)
                raise RuntimeError("a proxy worker process did not start; see its log above")
            await asyncio.sleep(0.05)
    return workers


async def stop_workers(workers: list[asyncio.subprocess.Process]) -> None:
    for worker in workers:
        if worker.returncode is None:
            worker.terminate()
    await asyncio.gather(*(worker.wait() for worker in workers))


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    runtime.run("proxy", cfg.process, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
