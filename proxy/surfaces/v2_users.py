"""REST v2 users: create, describe, list, update_password, drop (shared/spec/notes/
milvus-v2-behaviour.md §10).

They are the users of both authenticated surfaces (REST v2 and managed indexes). Root manages
users; any user may describe itself and change its own password, giving the old one. Quiver
has no roles, so a user's roles are an empty list. A change takes effect for the next request
on this proxy (its cached credential checks of the user are dropped), and on other proxies
once their cache entries expire (auth.CACHE_S).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.surfaces.auth import check_privilege
from proxy.surfaces.v2 import ACCESS, CLUSTER, Body, ok, read_body
from quiver.errors import ErrorCode, QuiverError


def _password(body: Body, key: str) -> str:
    body.require(key)
    return body.string(key)


async def create_user(request: web.Request) -> web.Response:
    body = await read_body(request)
    check_privilege(request)
    await request.app[CLUSTER].create_user(body.name("userName"), _password(body, "password"))
    return ok()


async def update_password(request: web.Request) -> web.Response:
    body = await read_body(request)
    user = body.name("userName")
    check_privilege(request, user)
    await request.app[CLUSTER].update_password(user, _password(body, "password"), _password(body, "newPassword"))
    request.app[ACCESS].forget(user)
    return ok()


async def drop_user(request: web.Request) -> web.Response:
    body = await read_body(request)
    check_privilege(request)
    user = body.name("userName")
    await request.app[CLUSTER].drop_user(user)
    request.app[ACCESS].forget(user)
    return ok()


async def list_users(request: web.Request) -> web.Response:
    await read_body(request)
    check_privilege(request)
    return ok(await request.app[CLUSTER].users())


async def describe_user(request: web.Request) -> web.Response:
    body = await read_body(request)
    user = body.name("userName")
    check_privilege(request, user)
    if user not in await request.app[CLUSTER].users():
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: user {user!r} not found")
    return ok([])


Handler = Callable[[web.Request], Awaitable[web.Response]]


def routes() -> dict[tuple[str, str], Handler]:
    return {
        ("users", "create"): create_user,
        ("users", "update_password"): update_password,
        ("users", "drop"): drop_user,
        ("users", "list"): list_users,
        ("users", "describe"): describe_user,
    }
