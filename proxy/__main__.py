"""`quiver proxy`: serves the REST surfaces until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from dataclasses import dataclass

from aiohttp import web

from quiver.cluster import ClusterClient
from proxy.http import observe
from proxy.surfaces import managed, v1, v2
from quiver import config, runtime

log = logging.getLogger("proxy")


@dataclass(frozen=True)
class ProxyConfig:
    host: str
    v1_port: int
    http_port: int
    coordinator: str
    max_body_bytes: int
    auth: bool
    ingest_nodes: tuple[str, ...]
    process: config.ProcessConfig


def parse_args(argv: list[str] | None = None) -> ProxyConfig:
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
    parser.add_argument(
        "--ingestnode",
        default=config.env("INGESTNODE", ""),
        help="host:port of the ingest nodes that serve managed indexes (/api/v1), comma-separated",
    )
    parser.add_argument(
        "--max-body-mb", type=int, default=config.env_int("MAX_BODY_MB", 1024), help="largest request body"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        default=config.env("NO_AUTH", "") not in ("", "0", "false"),
        help="serve the REST v2 API without credentials (they are required by default)",
    )
    config.add_process_args(parser)
    args = parser.parse_args(argv)
    return ProxyConfig(
        host=args.host,
        v1_port=args.v1_port,
        http_port=args.http_port,
        coordinator=args.coordinator,
        max_body_bytes=args.max_body_mb * 1024 * 1024,
        auth=not args.no_auth,
        ingest_nodes=tuple(a.strip() for a in args.ingestnode.split(",") if a.strip()),
        process=config.process_config(args),
    )


def http_app(cluster: ClusterClient, cfg: ProxyConfig) -> web.Application:
    """The :19530 surfaces: Milvus REST v2 and managed document indexes (LlamaCloud's API)."""
    app = web.Application(client_max_size=cfg.max_body_bytes, middlewares=[observe("http")])
    v2.add_routes(app, cluster, v2.V2Settings(auth=cfg.auth))
    managed.add_routes(app, cluster, managed.ManagedSettings(cfg.ingest_nodes, cfg.auth, cfg.max_body_bytes))
    return app


async def serve(cfg: ProxyConfig, stop: asyncio.Event) -> None:
    cluster = ClusterClient(cfg.coordinator)
    follower = asyncio.create_task(cluster.follow_catalog(stop))
    runners: list[web.AppRunner] = []
    try:
        ports = {}
        for label, app, port in (
            ("v1", v1.create_app(cluster, cfg.max_body_bytes), cfg.v1_port),
            ("http", http_app(cluster, cfg), cfg.http_port),
        ):
            # Long request lines: GET .../vectors?ids= takes up to 1000 ids of 19 digits.
            # On SIGTERM: stop accepting, give requests in flight up to 20 s (inside Kubernetes'
            # default 30 s grace period).
            runner = web.AppRunner(app, access_log=None, max_line_size=65536, shutdown_timeout=20)
            await runner.setup()
            runners.append(runner)
            sock = socket.create_server((cfg.host, port))  # port 0 picks a free one
            await web.SockSite(runner, sock).start()
            ports[label] = sock.getsockname()[1]
        async with runtime.ops_endpoints(cfg.host, cfg.process, stop, cluster.ready) as ops:
            log.info("proxy serving Milvus 0.x REST on :%d, HTTP on :%d", ports["v1"], ports["http"])
            runtime.write_ready_file(
                cfg.process.ready_file, v1_port=ports["v1"], http_port=ports["http"], ops_port=ops
            )
            await stop.wait()
            log.info("proxy stopping: finishing requests in flight")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await cluster.close()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    runtime.run("proxy", cfg.process, lambda stop: serve(cfg, stop))


if __name__ == "__main__":
    main()
