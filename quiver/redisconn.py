"""How a role reaches Redis, the metadata store: one server (--redis-url), or the primary that
Redis Sentinel names (--redis-sentinels, --redis-master), which moves to the replica when the
primary's machine is lost. Also the transaction that waits for that replica to have a write.

Under Sentinel, failover discovery is redis-py's (Sentinel.master_for); what is decided here is
how long a command waits for the new primary, and which writes wait for the replica.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from quiver import config, metrics
from quiver.errors import ErrorCode, QuiverError

log = logging.getLogger(__name__)

DEFAULT_MASTER = "quiver"
SENTINEL_PORT = 26379
# A command whose connection broke (the primary died) is tried again after 0.4, 0.8 and 1.6 s;
# each try reconnects through the sentinels, itself up to four times with the same backoff
# (redis-py retries a connect inside the retried command). About 11 s in all: longer than a
# failover (down-after-milliseconds plus the promotion: under 8 s as deploy/ configures
# Sentinel), so a command issued meanwhile waits for the new primary instead of failing.
FAILOVER_RETRY = Retry(ExponentialBackoff(cap=1.6, base=0.2), retries=3)
# One quick question per sentinel: discovery moves on to the next one, which may answer.
SENTINEL_CONNECTION = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, "retry": Retry(NoBackoff(), 0)}
# At start-up the sentinels may be starting too, or between primaries: wait this long for them
# to name one before the role stops, saying why.
STARTUP_WAIT_S = 15.0
# How long a durable write waits for the replica's acknowledgement. A replica on the same
# network answers in about a millisecond; a write still waiting after this is done (the primary
# has it), and reported.
REPLICA_WAIT_MS = 1000
# Once no replica acknowledged in time, durable writes stop waiting (each would take the whole
# timeout: a heartbeat records several) and one write this often finds out whether one is back.
REPLICA_RETRY_S = 10.0


@dataclass(frozen=True)
class RedisConfig:
    url: str
    sentinels: tuple[tuple[str, int], ...] = ()  # none: the one server at `url`
    master: str = DEFAULT_MASTER

    @property
    def sentinel(self) -> bool:
        return bool(self.sentinels)

    def describe(self) -> str:
        """Where Redis is, for log lines: never the password a URL may hold."""
        if self.sentinel:
            addresses = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"primary {self.master!r} of the sentinels {addresses}"
        url = urllib.parse.urlsplit(self.url)
        if url.password is None:
            return self.url
        return url._replace(netloc=url.netloc.replace(f":{url.password}@", ":***@", 1)).geturl()


def sentinel_addresses(text: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port,...` (the port defaults to Sentinel's 26379)."""
    addresses = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, colon, port = item.rpartition(":")
        if not colon:
            host, port = item, str(SENTINEL_PORT)
        if not host or not port.isdigit():
            raise argparse.ArgumentTypeError(f"not a host:port: {item!r}")
        addresses.append((host, int(port)))
    return tuple(addresses)


def add_redis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default=config.env("REDIS_URL", config.DEFAULT_REDIS_URL),
        help="the one Redis server (unused with --redis-sentinels)",
    )
    parser.add_argument(
        "--redis-sentinels",
        type=sentinel_addresses,
        default=config.env("REDIS_SENTINELS", ""),
        help="host:port,... of Redis Sentinels: Redis is the primary they name, and follows failovers",
    )
    parser.add_argument(
        "--redis-master",
        default=config.env("REDIS_MASTER", DEFAULT_MASTER),
        help="the name the sentinels monitor the primary under",
    )


def redis_config(args: argparse.Namespace) -> RedisConfig:
    return RedisConfig(args.redis_url, args.redis_sentinels, args.redis_master)


async def connect(cfg: RedisConfig) -> Redis:
    """A client of Redis with decoded replies; close it with close(). Under Sentinel, the
    sentinels must name a primary within STARTUP_WAIT_S, or QuiverError says which were
    asked and what each answered."""
    if not cfg.sentinel:
        return Redis.from_url(cfg.url, decode_responses=True)
    sentinel = Sentinel(list(cfg.sentinels), sentinel_kwargs=SENTINEL_CONNECTION)
    try:
        await _wait_for_primary(sentinel, cfg)
    except BaseException:
        await sentinel.aclose()
        raise
    return sentinel.master_for(
        cfg.master, decode_responses=True, retry=FAILOVER_RETRY, connection_class=_PrimaryConnection
    )


class _PrimaryConnection(SentinelManagedConnection):
    """A connection to the primary the sentinels name, also when a command's retry reconnects.

    redis-py 8.1 asks the sentinels only when the pool hands out a connection; a retry inside
    a command reconnects to the address the connection had (redis/redis-py#3874), so a command
    caught by a failover would knock at the dead primary until its retries ran out. Here that
    reconnect goes through connect(), which asks the sentinels first."""

    async def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if retry_socket_connect:  # a command's reconnect (connect_to() itself passes False)
            await self.connect()
        else:
            await super().connect_check_health(check_health, retry_socket_connect=False)


async def close(redis: Redis) -> None:
    """Closes a client of connect(), and under Sentinel its connections to the sentinels."""
    await redis.aclose()
    pool = redis.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        await pool.sentinel_manager.aclose()


async def _wait_for_primary(sentinel: Sentinel, cfg: RedisConfig) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_WAIT_S
    while True:
        try:
            await sentinel.discover_master(cfg.master)
            return
        except RedisConnectionError:  # MasterNotFoundError: none answered, or none names one
            if loop.time() >= deadline:
                break
        await asyncio.sleep(0.5)
    answers = await asyncio.gather(*(_what_sentinel_says(client, cfg.master) for client in sentinel.sentinels))
    raise QuiverError(
        ErrorCode.UNAVAILABLE,
        f"no Redis Sentinel names a primary {cfg.master!r} (waited {STARTUP_WAIT_S:.0f} s): " + ", ".join(answers),
    )


async def _what_sentinel_says(client: Redis, master: str) -> str:
    where = f"{client.connection_pool.connection_kwargs['host']}:{client.connection_pool.connection_kwargs['port']}"
    try:
        masters = await client.sentinel_masters()
    except (RedisConnectionError, RedisTimeoutError) as error:
        return f"{where} ({error})"
    if master not in masters:
        return f"{where} (monitors no primary of that name)"
    return f"{where} (its primary {master!r} is down)"


class ReplicaWait:
    """WAIT 1 after each durable write, on the connection that made it, for every transaction
    of one client; reports the writes no replica acknowledged (logged, and counted in
    quiver_redis_unreplicated_writes_total): the primary has them, and losing it now would lose
    them. They are not undone.

    While no replica acknowledges (it is down, or not yet replaced after a failover), writes do
    not wait, and are counted: one write every `retry_s` waits, and once a replica acknowledges
    it every write waits again."""

    def __init__(self, timeout_ms: int = REPLICA_WAIT_MS, retry_s: float = REPLICA_RETRY_S) -> None:
        self._timeout_ms = timeout_ms
        self._retry_s = retry_s
        self._absent_until: float | None = None  # set while no replica acknowledges

    async def after(self, connection: Connection, commands: list[str]) -> None:
        """Called with the connection that just ran `commands` (their names), before anything
        else uses it: WAIT counts only the writes of the connection it is sent on."""
        if self._absent_until is not None and time.monotonic() < self._absent_until:
            metrics.REDIS_UNREPLICATED_WRITES.inc()
            return
        try:
            await connection.send_command("WAIT", 1, self._timeout_ms)
            acknowledged = int(await connection.read_response()) >= 1
            why = f"no replica acknowledged it within {self._timeout_ms} ms"
        except (RedisConnectionError, RedisTimeoutError) as error:  # not retried: the write is done
            acknowledged, why = False, f"asking for the replica's acknowledgement failed: {error}"
        if acknowledged:
            if self._absent_until is not None:
                log.info("a Redis replica acknowledges metadata writes again")
                self._absent_until = None
            return
        metrics.REDIS_UNREPLICATED_WRITES.inc()
        self._absent_until = time.monotonic() + self._retry_s
        log.warning(
            "a metadata write (%s) is on the Redis primary only: %s; writes do not wait for a replica "
            "for the next %.0f s", " ".join(commands), why, self._retry_s,
        )


class ReplicatedTransaction(Pipeline):
    """A MULTI/EXEC transaction (WATCH works as in any pipeline) that, once Redis has run it,
    waits for a replica to have it too (`replicas`). For writes whose loss in a failover would
    lose or duplicate data or metadata."""

    def __init__(self, redis: Redis, replicas: ReplicaWait) -> None:
        super().__init__(redis.connection_pool, redis.response_callbacks, transaction=True, shard_hint=None)
        self._replicas = replicas

    async def _execute_transaction(self, connection: Connection, commands: Any, raise_on_error: bool) -> Any:
        # redis-py's one step that runs on the connection between EXEC and the pipeline handing
        # that connection back to the pool.
        response = await super()._execute_transaction(connection, commands, raise_on_error)
        await self._replicas.after(connection, [str(args[0]) for args, _ in commands])
        return response
