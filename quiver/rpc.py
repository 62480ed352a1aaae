"""gRPC helpers shared by every role: statuses, servicer error handling, clients, servers."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from quiver import logs, metrics
from quiver.errors import METADATA_STORE_DOWN, ErrorCode, QuiverError, metadata_store_error, storage_error
from quiver.ports import check_free
from quiver_pb import common_pb2 as pb

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
# Servers accept the clients' keepalive pings on idle connections (by default they allow one
# in 5 minutes, and close a connection that pings more often with "too_many_pings").
SERVER_OPTIONS = CHANNEL_OPTIONS + [
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    # gRPC binds with SO_REUSEPORT by default: a second node started on a taken port would bind
    # it too and silently take half of the first one's connections.
    ("grpc.so_reuseport", 0),
]
# Reconnect quickly after a peer restarts (default backoff grows to two minutes).
CLIENT_OPTIONS = CHANNEL_OPTIONS + [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.min_reconnect_backoff_ms", 100),
]
DEFAULT_TIMEOUT_S = 60.0
RETRY_AFTER_S = 0.1
_REQUEST_ID_KEY = "x-request-id"

Reply = TypeVar("Reply")


def ok() -> pb.Status:
    return pb.Status(code=0)


def status_of(error: QuiverError) -> pb.Status:
    return pb.Status(code=int(error.code), reason=error.message, retriable=error.retriable)


def check(status: pb.Status) -> None:
    """Raises the QuiverError that a reply's status carries, if any."""
    if status.code:
        try:
            code = ErrorCode(status.code)
        except ValueError:
            code = ErrorCode.UNEXPECTED
        raise QuiverError(code, status.reason)


def servicer_method(reply_type: Callable[..., Any]) -> Callable:
    """Wraps a servicer method: QuiverErrors become the reply's status, never gRPC errors.

    The wrapped method takes the request and returns the reply; it does not see the context.
    """

    def decorate(method: Callable[[Any, Any], Awaitable[Any]]) -> Callable:
        name = method.__qualname__

        @functools.wraps(method)
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            logs.request_id.set(_request_id_of(context))  # this call's own task context
            started, outcome = time.perf_counter(), ErrorCode.SUCCESS.name
            try:
                return await method(self, request)
            except QuiverError as error:
                outcome = error.code.name
                return reply_type(status=status_of(error))
            except METADATA_STORE_DOWN as error:  # retriable: Redis comes back
                failure = metadata_store_error(error)
                outcome = failure.code.name
                log.warning("%s: %s", name, failure.message)
                return reply_type(status=status_of(failure))
            except OSError as error:  # the node's disk: full, or failing
                failure = storage_error(error, "the node's storage")
                outcome = failure.code.name
                log.error("%s failed: %s", name, error)
                return reply_type(status=status_of(failure))
            except Exception as error:  # a bug: log it, answer with a clear status
                outcome = ErrorCode.UNEXPECTED.name
                log.exception("%s failed", name)
                reason = f"internal error in {method.__name__}: {error!r}"
                return reply_type(status=pb.Status(code=int(ErrorCode.UNEXPECTED), reason=reason))
            finally:
                metrics.RPC_REQUESTS.labels(method=name, code=outcome).inc()
                metrics.RPC_SECONDS.labels(method=name).observe(time.perf_counter() - started)

        return wrapper

    return decorate


async def call(
    method: Callable[..., Awaitable[Reply]],
    request: Any,
    *,
    peer: str,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    idempotent: bool = False,
) -> Reply:
    """Calls a unary RPC; transport failures and error statuses both raise QuiverError.

    `peer` names the callee in errors ("data node dn-1 at 127.0.0.1:7001"). An `idempotent`
    call is made once more when the peer was unavailable: the first call after a peer came back
    often meets the connection that died with it.
    """
    for attempt in (1, 2):
        try:
            reply = await method(request, timeout=timeout, metadata=request_metadata())
            break
        except grpc.aio.AioRpcError as error:
            if not (idempotent and attempt == 1 and error.code() == grpc.StatusCode.UNAVAILABLE):
                raise rpc_error(error, peer) from None
            await asyncio.sleep(RETRY_AFTER_S)
    check(reply.status)  # type: ignore[attr-defined]
    return reply


def request_metadata() -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying the current request id to the callee (for its logs)."""
    current = logs.request_id.get()
    return ((_REQUEST_ID_KEY, current),) if current else ()


def _request_id_of(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == _REQUEST_ID_KEY:
            return str(value)
    return ""


def rpc_error(error: grpc.aio.AioRpcError, peer: str) -> QuiverError:
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return QuiverError(ErrorCode.UNAVAILABLE, f"{peer} is unavailable: {error.details()}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return QuiverError(ErrorCode.TIMEOUT, f"{peer} did not answer in time")
    return QuiverError(ErrorCode.UNEXPECTED, f"{peer} failed: {code.name} {error.details()}")


class Channels:
    """One reusable channel per address."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    def get(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=CLIENT_OPTIONS)
            self._channels[address] = channel
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


async def start_server(
    register: Callable[[grpc.aio.Server], None], host: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """Starts a gRPC server; port 0 picks a free one. Returns the server and its bound port; a
    taken port raises PortInUse (gRPC itself only logs why its bind failed)."""
    check_free(port, host, "gRPC", "--port")
    server = grpc.aio.server(options=SERVER_OPTIONS)
    register(server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # "Failed to bind": taken since the check, or not an address of this host
        bound = 0
    if not bound:
        raise QuiverError(ErrorCode.UNAVAILABLE, f"cannot bind the gRPC server to {host}:{port} (gRPC's log line above says why)")
    await server.start()
    return server, bound
