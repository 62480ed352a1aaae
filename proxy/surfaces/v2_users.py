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
from quiver.rpc import call
from quiver_pb import common_pb2 as pb
from quiver_pb import coordinator_pb2 as cpb


def _password(body: Body, key: str) -> str:
    body.require(key)
    return body.string(key)


async def _coordinator(request: web.Request, method: str, message: object) -> object:
    return await call(getattr(request.app[CLUSTER].coordinator, method), message, peer="coordinator")


async def create_user(request: web.Request) -> web.Response:
    body = await read_body(request)
    check_privilege(request)
    user_request = cpb.UserRequest(user=body.name("userName"), password=_password(body, "password"))
    await _coordinator(request, "CreateUser", user_request)
    return ok()


async def update_password(request: web.Request) -> web.Response:
    body = await read_body(request)
    user = body.name("userName")
    check_privilege(request, user)
    change = cpb.UpdatePasswordRequest(
        user=user, old_password=_password(body, "password"), new_password=_password(body, "newPassword")
    )
    await _coordinator(request, "UpdatePassword", change)
    request.app[ACCESS].forget(user)
    return ok()


async def drop_user(request: web.Request) -> web.Response:
    body = await read_body(request)
    check_privilege(request)
    user = body.name("userName")
    await _coordinator(request, "DropUser", cpb.UserRequest(user=user))
    request.app[ACCESS].forget(user)
    return ok()


async def _users(request: web.Request) -> list[str]:
    reply = await _coordinator(request, "ListUsers", pb.Empty())
    return list(reply.users)  # type: ignore[attr-defined]


async def list_users(request: web.Request) -> web.Response:
    await read_body(request)
    check_privilege(request)
    return ok(await _users(request))


async def describe_user(request: web.Request) -> web.Response:
    body = await read_body(request)
    user = body.name("userName")
    check_privilege(request, user)
    if user not in await _users(request):
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
