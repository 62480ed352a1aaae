"""`quiver api-key create --user root`: issues an API key acting as a user and prints it, once.

The coordinator keeps only the key's digest. The key works wherever credentials are taken:
`Authorization: Bearer <key>` on the REST v2 and managed-index (LlamaCloud) surfaces, and as
the `api_key` of the llama-cloud SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from quiver import config
from quiver.errors import QuiverError
from quiver.rpc import Channels, call
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quiver api-key", description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue a new key")
    create.add_argument("--user", default="root", help="the user the key acts as (it must exist)")
    create.add_argument(
        "--coordinator",
        default=config.env("COORDINATOR", ""),
        help="host:port of the coordinator (default: the one `quiver standalone` runs in --data-dir)",
    )
    create.add_argument("--data-dir", default=config.env("DATA_DIR", "./quiver-data"),
                        help="the standalone cluster's data dir, to find its coordinator")
    return parser.parse_args(argv)


def coordinator_address(args: argparse.Namespace) -> str:
    if args.coordinator:
        return str(args.coordinator)
    ready_file = Path(args.data_dir) / "run" / "coordinator.json"
    if ready_file.exists():
        return str(json.loads(ready_file.read_text())["address"])
    return config.DEFAULT_COORDINATOR


async def create_key(coordinator: str, user: str) -> str:
    channels = Channels()
    try:
        stub = CoordinatorStub(channels.get(coordinator))
        reply = await call(stub.CreateApiKey, cpb.CreateApiKeyRequest(user=user), peer=f"coordinator at {coordinator}")
    finally:
        await channels.close()
    return str(reply.api_key)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        key = asyncio.run(create_key(coordinator_address(args), args.user))
    except QuiverError as error:
        sys.exit(f"quiver api-key: {error.message}")
    print(key)
