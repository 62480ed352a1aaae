"""`quiver api-key create`: issues an API key through the proxy and prints it, once.

It is a client of the proxy's `POST /api/v1/api-keys`, with the credentials of a user: the key
acts as that user, or, for root, as the user named by --for-user. The coordinator keeps only
the key's digest. The key works wherever credentials are taken: `Authorization: Bearer <key>`
on the REST v2 and managed-index (LlamaCloud) surfaces, and as the `api_key` of the llama-cloud
SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import aiohttp

from quiver import config

DEFAULT_URL = "http://127.0.0.1:19530"
TIMEOUT_S = 30.0


class ApiKeyRefused(Exception):
    """The proxy answered, and issued no key; the message says why, in one line."""


class ProxyUnreachable(Exception):
    """Nothing at the address answers as a Quiver proxy."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quiver api-key", description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="issue a new key", description="Issues a new API key and prints it on stdout, once."
    )
    create.add_argument("--url", default=config.env("URL", DEFAULT_URL),
                        help=f"the proxy's REST v2 / managed-index address (default: $QUIVER_URL, else {DEFAULT_URL})")
    create.add_argument("--user", default=config.env("USER", "root"),
                        help="the user to sign in as, whom the key acts as (default: $QUIVER_USER, else root)")
    create.add_argument("--password", default=config.env("PASSWORD", "Milvus"),
                        help="that user's password (default: $QUIVER_PASSWORD, else Milvus, the password a new "
                             "cluster gives root: change it, see docs/security.md)")
    create.add_argument("--for-user", default="",
                        help="issue the key for this user instead (root only)")
    return parser.parse_args(argv)


async def create_key(url: str, user: str, password: str, for_user: str) -> str:
    endpoint = url.rstrip("/") + "/api/v1/api-keys"
    body = {"user": for_user} if for_user else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http:
            async with http.post(endpoint, json=body, headers={"Authorization": f"Bearer {user}:{password}"}) as reply:
                answer: Any = await reply.json() if reply.content_type == "application/json" else None
                status = reply.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise ProxyUnreachable(reason(error)) from None
    if status == 200 and isinstance(answer, dict) and "api_key" in answer:
        return str(answer["api_key"])
    if status == 401:
        raise ApiKeyRefused(f"{url} refused the credentials of user {user!r}: give them with --user and "
                            "--password, or QUIVER_USER and QUIVER_PASSWORD")
    if isinstance(answer, dict) and "detail" in answer:  # the managed surface's errors
        detail = answer["detail"]  # a message, or FastAPI's list of {"loc", "msg", "type"}
        messages = [d["msg"] for d in detail if isinstance(d, dict) and "msg" in d] if isinstance(detail, list) else [detail]
        raise ApiKeyRefused("; ".join(map(str, messages)) or f"HTTP {status}")
    raise ProxyUnreachable(f"HTTP {status} for POST {endpoint}")


def reason(error: BaseException) -> str:
    """Why a request got no answer, in a few words."""
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        # "Connection refused" rather than asyncio's "Connect call failed (...)"; a failed name
        # lookup has a negative errno and says what it is itself.
        return os.strerror(cause.errno) if cause.errno and cause.errno > 0 else str(cause.strerror or cause)
    if isinstance(error, aiohttp.InvalidURL):
        return "not a valid http:// or https:// address"
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    return str(error) or type(error).__name__


def one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        key = asyncio.run(create_key(args.url, args.user, args.password, args.for_user))
    except ProxyUnreachable as error:
        sys.exit(one_line(f"quiver api-key: no Quiver proxy answers at {args.url}: {error}"))
    except ApiKeyRefused as error:
        sys.exit(one_line(f"quiver api-key: {error}"))
    print(key)
