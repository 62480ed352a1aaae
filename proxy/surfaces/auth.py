"""Who calls the REST surfaces, and how often.

`Credentials` checks `Authorization: Bearer user:password`, `Bearer <API key>` or Basic
against the coordinator (which verifies the scrypt hash) and caches what passed for a few
seconds, keyed by a digest of the header: the cache never holds a secret, and a password
change made through this proxy drops its user's entries at once. Requests that arrive with the
same header while it is being checked wait for that one check: when the cached entry of a busy
client expires, the coordinator runs one scrypt, not one per request in flight.

`RateLimiter` is a token bucket per caller (the user, or the client address where there is
no user): `rate` requests a second on average, bursts of `burst`. Checking credentials that
are not cached costs the coordinator a scrypt, so with limits on those checks also take a
token from the client address's bucket: guessing passwords is as slow as the limit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time

from aiohttp import web

from proxy.errors import RateLimited
from quiver.cluster import ClusterClient
from quiver.errors import ErrorCode, QuiverError

ROOT = "root"  # who every request is with credentials off, as in Milvus
CALLER = web.RequestKey("caller", str)  # the user a request is authenticated as
CACHE_S = 10.0  # how long a successful check is reused (by this proxy: see forget)
MAX_ENTRIES = 100_000  # buckets or cached checks; above it, the idle ones are forgotten


class RateLimiter:
    def __init__(self, rate: float = 0.0, burst: int = 0) -> None:
        """`rate` requests a second per caller (0: no limit), in bursts of `burst` (0: twice
        the rate, at least 1)."""
        self.rate = rate
        self.burst = float(burst or max(1, int(2 * rate)))
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str) -> None:
        """Takes a token from `key`'s bucket, or raises RateLimited saying when one is back."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise RateLimited(
                f"request is rejected by limiter: more than {self.rate:g} requests a second", (1 - tokens) / self.rate
            )
        if len(self._buckets) >= MAX_ENTRIES:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)

    def _forget_full(self, now: float) -> None:
        """A bucket that has refilled is the same as no bucket."""
        full = [k for k, (tokens, then) in self._buckets.items() if tokens + (now - then) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


def client_key(request: web.Request) -> str:
    """The rate-limit key of a caller with no user: its address (the proxy in front of Quiver,
    when there is one: X-Forwarded-For is not trusted)."""
    return f"address:{request.remote or ''}"


class Credentials:
    def __init__(self, cluster: ClusterClient, limiter: RateLimiter, ttl_s: float = CACHE_S) -> None:
        self._cluster = cluster
        self._ttl_s = ttl_s
        self._limiter = limiter
        self._passed: dict[bytes, tuple[str, float]] = {}  # sha256 of the header -> (user, until)
        self._checking: dict[bytes, asyncio.Future[str]] = {}  # checks in flight, by the same key
        self._forgotten = 0  # bumped by forget: a check that began before it is not cached

    async def user(self, request: web.Request) -> str:
        """The user the request's credentials belong to; NOT_AUTHENTICATED otherwise."""
        header = request.headers.get("Authorization", "")
        key = hashlib.sha256(header.encode("utf-8", "surrogatepass")).digest()
        now = time.monotonic()
        cached = self._passed.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        checking = self._checking.get(key)
        if checking is None:
            user, password, api_key = parse_authorization(header)
            if not (user or api_key):
                raise QuiverError(ErrorCode.NOT_AUTHENTICATED, "user hasn't authenticated")
            self._limiter.take(client_key(request))
            # A task of its own: a client that goes away does not cancel the others' check.
            checking = asyncio.ensure_future(self._check(key, user, password, api_key))
            self._checking[key] = checking
            checking.add_done_callback(lambda done: self._checked(key, done))
        return await asyncio.shield(checking)

    async def _check(self, key: bytes, user: str, password: str, api_key: str) -> str:
        forgotten = self._forgotten
        name = await self._cluster.authenticate(user, password, api_key)
        if forgotten == self._forgotten:  # no password changed meanwhile
            now = time.monotonic()
            if len(self._passed) >= MAX_ENTRIES:
                self._passed = {k: v for k, v in self._passed.items() if v[1] > now}
            self._passed[key] = (name, now + self._ttl_s)
        return name

    def _checked(self, key: bytes, check: asyncio.Future[str]) -> None:
        del self._checking[key]
        if not check.cancelled():
            check.exception()  # retrieved here too: every waiter may have gone

    def forget(self, user: str) -> None:
        """Drops the cached checks of `user` (its password changed, or it is gone)."""
        self._forgotten += 1
        self._passed = {k: v for k, v in self._passed.items() if v[0] != user}


def parse_authorization(header: str) -> tuple[str, str, str]:
    """(user, password, api key) from `Bearer user:password`, `Bearer <key>` or Basic; empty
    strings for anything else (which no user matches)."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", "", ""
    elif scheme.lower() != "bearer":
        return "", "", ""
    if not value.isprintable():  # control characters, or bytes that were not UTF-8
        return "", "", ""
    user, colon, password = value.partition(":")
    return (user, password, "") if colon else ("", "", value)


def check_privilege(request: web.Request, user: str = ROOT) -> None:
    """Refuses the request unless its caller is root or `user` (a user acting on itself); with
    no user named, only root passes."""
    caller = request[CALLER]
    if caller not in (ROOT, user):
        raise QuiverError(ErrorCode.PERMISSION_DENIED, f"privilege not permitted: user {caller!r} cannot do this")


class Access:
    """Admits a request to a surface: names its caller (from its credentials, or root where
    the surface takes none), then takes a token from the caller's bucket."""

    def __init__(self, credentials: Credentials | None, limiter: RateLimiter) -> None:
        self.credentials = credentials
        self.limiter = limiter

    async def admit(self, request: web.Request) -> None:
        if self.credentials is None:
            request[CALLER] = ROOT
            self.limiter.take(client_key(request))
        else:
            request[CALLER] = await self.credentials.user(request)
            self.limiter.take(f"user:{request[CALLER]}")

    def forget(self, user: str) -> None:
        if self.credentials is not None:
            self.credentials.forget(user)
