"""API keys: `POST /api/v1/api-keys` on the proxy, and `quiver api-key create`, its client, run as
a user runs it, from a folder that is not a cluster's, against the session's cluster."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from llama_cloud import AsyncLlamaCloud

from managed.api import DEFAULT_PROJECT_ID
from quiver.standalone import LOOPBACK, free_port
from tests.cluster import TestCluster, V2Client
from tests.managed.conftest import ManagedApi

QUIVER = str(Path(sys.executable).with_name("quiver"))


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


async def api_key_create(cwd: Path, *args: str, **env: str) -> Ran:
    """`quiver api-key create ARGS` in `cwd`, with no QUIVER_* setting but `env`'s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUIVER_")}
    process = await asyncio.create_subprocess_exec(
        QUIVER, "api-key", "create", *args, cwd=cwd, env={**clean, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return Ran(process.returncode or 0, stdout.decode(), stderr.decode())


def one_key(ran: Ran) -> str:
    assert ran.code == 0 and not ran.stderr, ran
    lines = ran.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llx-"), ran
    return lines[0]


def refusal(ran: Ran) -> str:
    """The one line a refused run says, on stderr, having printed nothing on stdout."""
    assert ran.code != 0 and not ran.stdout, ran
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran
    return lines[0]


async def new_user(v2: V2Client) -> tuple[str, str]:
    user, password = f"u_{uuid.uuid4().hex[:10]}", "keys-Passw0rd"
    await v2.ok("users/create", {"userName": user, "password": password})
    return user, password


async def test_the_printed_key_authenticates_rest_v2_and_the_sdk(
    http: aiohttp.ClientSession, cluster: TestCluster, tmp_path: Path
) -> None:
    key = one_key(await api_key_create(tmp_path, "--url", cluster.http_url))  # as root, the default
    assert await V2Client(http, cluster.http_url, token=key).ok("collections/list", {}) is not None
    async with AsyncLlamaCloud(api_key=key, base_url=cluster.http_url, max_retries=0) as sdk:
        assert [project.id for project in await sdk.projects.list()] == [DEFAULT_PROJECT_ID]


async def test_an_address_where_no_proxy_answers_is_named_at_once(tmp_path: Path) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    started = time.monotonic()
    ran = await api_key_create(tmp_path, "--url", url)
    assert refusal(ran) == f"quiver api-key: no Quiver proxy answers at {url}: Connection refused"
    assert time.monotonic() - started < 10


async def test_wrong_credentials_are_named(cluster: TestCluster, tmp_path: Path) -> None:
    ran = await api_key_create(tmp_path, "--url", cluster.http_url, "--password", "not-roots-password")
    assert refusal(ran).startswith(f"quiver api-key: {cluster.http_url} refused the credentials of user 'root'")


async def test_a_user_issues_keys_for_itself_and_root_for_anyone(
    http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client, tmp_path: Path
) -> None:
    carol, password = await new_user(v2)
    as_carol = {"QUIVER_URL": cluster.http_url, "QUIVER_USER": carol, "QUIVER_PASSWORD": password}
    for key in (one_key(await api_key_create(tmp_path, **as_carol)),
                one_key(await api_key_create(tmp_path, "--url", cluster.http_url, "--for-user", carol))):
        with_key = V2Client(http, cluster.http_url, token=key)
        assert await with_key.ok("users/describe", {"userName": carol}) == []
        await with_key.fails("users/list", {}, 1401, status=403)  # the key acts as carol, not root

    ran = await api_key_create(tmp_path, "--for-user", "root", **as_carol)
    assert refusal(ran) == f"quiver api-key: privilege not permitted: user {carol!r} cannot do this"


async def test_the_route_answers_in_the_managed_surfaces_format(
    http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client
) -> None:
    root = ManagedApi(http, cluster.http_url)
    issued = await root.ok("POST", "/api-keys", json={})
    assert issued["user"] == "root" and issued["api_key"].startswith("llx-")
    dave, password = await new_user(v2)
    assert (await root.ok("POST", "/api-keys", json={"user": dave}))["user"] == dave

    missing = await root.request("POST", "/api-keys", json={"user": "u_nobody_at_all"})
    assert missing.status == 422 and missing.body["detail"][0]["msg"] == "user 'u_nobody_at_all' does not exist"
    assert (await root.request("POST", "/api-keys")).status == 422  # no body
    as_dave = ManagedApi(http, cluster.http_url, token=f"{dave}:{password}")
    forbidden = await as_dave.request("POST", "/api-keys", json={"user": "root"})
    assert forbidden.status == 403 and forbidden.body == {"detail": f"privilege not permitted: user {dave!r} cannot do this"}
    for token in (None, f"{dave}:wrong-password"):
        refused = await ManagedApi(http, cluster.http_url, token=token).request("POST", "/api-keys", json={})
        assert refused.status == 401 and refused.body == {"detail": "user hasn't authenticated"}
