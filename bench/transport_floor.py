"""The transport floor: what one aiohttp request that makes one grpc.aio hop to a server doing
nothing costs on this machine. Quiver's search cannot beat it; the suite quotes Quiver's
figures as a ratio of it.

    python bench/transport_floor.py [--requests 20000]

Starts a no-op gRPC server and an aiohttp server (each its own process, as the proxy and a
data node are), then loads the HTTP server with `hey` at concurrency 1 and 32 with a body shaped
like a search (one 128-d query as JSON). The handler parses the JSON, packs the vector to
bytes, calls the gRPC server and answers a small JSON document, as the proxy does.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import grpc
import numpy as np
import orjson
from aiohttp import web

from common import free_port, hey

METHOD = "/floor.Floor/Echo"
REPLY = bytes(160)  # ~ the packed ids and distances of a top-10 answer


async def serve_grpc(port: int) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return REPLY

    handler = grpc.method_handlers_generic_handler(
        "floor.Floor", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def serve_http(port: int, grpc_port: int) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    echo = channel.unary_unary(METHOD)

    async def search(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        query = np.asarray(body["search"]["vectors"], dtype=np.float32)
        reply = await echo(query.tobytes(), timeout=10)
        return web.Response(body=orjson.dumps({"num": 1, "bytes": len(reply)}), content_type="application/json")

    app = web.Application()
    app.router.add_put("/search", search)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def measure(requests: int) -> dict[int, dict[str, float]]:
    grpc_port, http_port = free_port(), free_port()
    me = [sys.executable, __file__]
    servers = [
        subprocess.Popen([*me, "grpc-server", str(grpc_port)]),
        subprocess.Popen([*me, "http-server", str(http_port), str(grpc_port)]),
    ]
    try:
        time.sleep(2.0)
        query = np.random.default_rng(0).standard_normal(128).astype(np.float32)
        body = orjson.dumps({"search": {"topk": 10, "params": {}, "vectors": [query.tolist()]}})
        url = f"http://127.0.0.1:{http_port}/search"
        hey(url, body, 1, 500)  # warm-up
        return {c: hey(url, body, c, requests) for c in (1, 32)}
    finally:
        for server in servers:
            server.terminate()
            server.wait()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "grpc-server":
        asyncio.run(serve_grpc(int(sys.argv[2])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "http-server":
        asyncio.run(serve_http(int(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    for concurrency, figures in measure(args.requests).items():
        print(f"c={concurrency:<3} {figures['qps']:>8,.0f} QPS  p50 {figures['p50_ms']:.2f} ms  p99 {figures['p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
