"""The log: Quiver's replicated write-ahead log, one NATS JetStream stream.

Every insert and delete is published to its collection shard's channel (a subject of the stream)
and acknowledged to the client only once JetStream has acknowledged it; the data node serving a
channel reads it in order from a checkpoint with a ChannelReader. Durability comes from the
servers' `sync_interval` and the stream's replicas: see quiver/natsserver.py.

Everything here is async on nats-py; nothing blocks the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.client import JetStreamContext

from quiver import metrics
from quiver.config import env, env_int
from quiver.errors import ErrorCode, QuiverError

log = logging.getLogger("quiver.log")

DEFAULT_LOG_SERVERS = "nats://127.0.0.1:4222"
CONNECT_TIMEOUT_S = 3.0  # connect() gives up after this, naming every server and why
RECONNECT_WAIT_S = 0.5  # between attempts at one server once connected: a restarted node is back quickly
REQUEST_TIMEOUT_S = 2.0  # one JetStream API request or publish attempt
RETRY_BUDGET_S = 5.0  # a publish or API call retries timeouts and elections for this long in all

# A pull asks for at most this many messages, and for at most pull_bytes (LogConfig); the reader
# asks again once it has handed on most of what it holds, so it holds at most about two pulls.
PULL_BATCH = 1024
PULL_EXPIRES_S = 30.0
# The server sends an idle heartbeat on a waiting pull this often; no word for HEARTBEATS_MISSED
# of them means the pull or the consumer is gone (a server restarted, the connection dropped).
PULL_HEARTBEAT_S = 1.0
HEARTBEATS_MISSED = 3.5
CONSUMER_INACTIVE_S = 120.0  # an abandoned consumer (a reader that died) vanishes after this
BARRIER_TTL_S = 600  # caught_up's barrier messages expire; by then every caller waiting on one gave up

# 409 statuses that end a pull without anything wrong with the consumer.
PULL_ENDED = frozenset({"Message Size Exceeds MaxBytes", "Batch Completed"})
# JetStream's refusals for want of disk: insufficient resources, storage resources exceeded.
OUT_OF_STORAGE = frozenset({10023, 10047})
NO_MESSAGE_FOUND = 10037  # JetStream's answer to a message lookup that found none

# JetStream's header names (as plain strings: nats-py's are str enums).
MSG_ID_HEADER = "Nats-Msg-Id"
STATUS_HEADER = "Status"
DESCRIPTION_HEADER = "Description"

T = TypeVar("T")


class LogError(QuiverError):
    pass


class LogUnavailable(LogError):
    """The log did not answer in time (down, electing a leader, unreachable): worth retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


class LogRejected(LogError):
    """JetStream refused the request (message too big, stream missing): retrying will not help."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_PARAMETER) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class LogConfig:
    servers: tuple[str, ...]  # nats://host:port, ...
    stream: str = "QUIVER_WAL"
    replicas: int = 1  # 3 in production
    subject_prefix: str = "quiver.wal"
    duplicate_window_s: float = 120.0
    max_message_bytes: int = 8 * 1024 * 1024

    @property
    def pull_bytes(self) -> int:
        """What one pull may bring: at least one message of the largest size with its headers."""
        return self.max_message_bytes + 1024 * 1024


def add_log_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-servers",
        default=env("LOG_SERVERS", DEFAULT_LOG_SERVERS),
        help="the log's NATS servers, comma-separated nats://host:port",
    )
    parser.add_argument(
        "--log-replicas",
        type=int,
        default=env_int("LOG_REPLICAS", 1),
        help="replicas of the log's stream (3 in production)",
    )


def log_config(args: argparse.Namespace) -> LogConfig:
    servers = tuple(server.strip() for server in args.log_servers.split(",") if server.strip())
    return LogConfig(servers=servers, replicas=args.log_replicas)


@dataclass(frozen=True)
class LogMessage:
    seq: int  # the stream sequence: the position in the log (monotonic across the stream)
    subject: str
    headers: dict[str, str]
    data: bytes  # the buffer nats-py read it into, not copied again


# Errors that a retry can cure: a request that timed out, nobody answering during a leader
# election or a server restart, the connection being re-established.
_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)


class Log:
    """A connection to the log. Publish with `publish`, read a channel with `consume`."""

    def __init__(self, cfg: LogConfig, client: Client) -> None:
        self.cfg = cfg
        self._client = client
        self._js: JetStreamContext = client.jetstream(timeout=REQUEST_TIMEOUT_S)
        self._readers: set[ChannelReader] = set()
        self._msg_get_subject = f"{api.DEFAULT_PREFIX}.STREAM.MSG.GET.{cfg.stream}"
        self._shared_lookups: dict[tuple[str, int], _SharedCall[int | None]] = {}

    @classmethod
    async def connect(cls, cfg: LogConfig, *, name: str) -> Log:
        """Connects to the first server that answers; raises LogUnavailable after CONNECT_TIMEOUT_S.
        Once connected, the client reconnects on its own, to any server of the cluster, forever."""
        client = Client()
        errors: list[Exception] = []

        async def on_error(error: Exception) -> None:
            if client.is_connected:
                log.warning("log connection %s: %s", name, error)
            else:
                errors.append(error)

        async def on_disconnected() -> None:
            if not client.is_closed:  # not our own close()
                log.warning("log connection %s lost; reconnecting", name)

        async def on_reconnected() -> None:
            url = client.connected_url
            log.info("log connection %s re-established to %s", name, url.netloc if url else "?")

        try:
            await asyncio.wait_for(
                client.connect(
                    servers=list(cfg.servers),
                    name=name,
                    connect_timeout=min(2, CONNECT_TIMEOUT_S),
                    reconnect_time_wait=RECONNECT_WAIT_S,
                    max_reconnect_attempts=-1,
                    # A publish made while reconnecting waits in this buffer (several of the largest).
                    pending_size=4 * cfg.pull_bytes,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    reconnected_cb=on_reconnected,
                ),
                CONNECT_TIMEOUT_S,
            )
        except (TimeoutError, OSError, nats.errors.Error) as error:
            await client.close()
            errors.append(error)
            reasons = await asyncio.gather(*(_why_unreachable(server, errors[0]) for server in cfg.servers))
            if len(cfg.servers) == 1:
                message = f"the log (NATS JetStream) at {cfg.servers[0]} is unreachable: {reasons[0]}"
            else:
                listed = ", ".join(f"{server} ({reason})" for server, reason in zip(cfg.servers, reasons))
                message = f"the log (NATS JetStream) is unreachable at every server: {listed}"
            raise LogUnavailable(message) from error
        return cls(cfg, client)

    async def ensure_stream(self) -> None:
        """Creates the stream, or brings an existing one to this configuration (replicas included)."""
        cfg = self.cfg
        stream = api.StreamConfig(
            name=cfg.stream,
            subjects=[f"{cfg.subject_prefix}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            num_replicas=cfg.replicas,
            duplicate_window=cfg.duplicate_window_s,
            max_msg_size=cfg.max_message_bytes,
            # No limit on messages, bytes or age: only purge_before and delete_subject remove
            # messages. Discard NEW (refuse a write) rather than OLD (drop acknowledged ones) in
            # case someone ever sets a limit.
            max_msgs=-1,
            max_bytes=-1,
            max_age=0,
            discard=api.DiscardPolicy.NEW,
            allow_msg_ttl=True,  # caught_up's barrier messages expire on their own
        )
        if await self._retrying("reading the log's stream", self._stream_exists):
            await self._retrying("updating the log's stream", lambda: self._js.update_stream(stream))
        else:
            # Two processes creating it at once is fine: creating an identical stream succeeds.
            await self._retrying("creating the log's stream", lambda: self._js.add_stream(stream))

    def channel_subject(self, collection_id: int, shard: int) -> str:
        """The subject of a shard channel: every message of the channel goes to it."""
        return f"{self.cfg.subject_prefix}.{collection_id}.{shard}"

    async def publish(
        self, subject: str, data: bytes, *, msg_id: str, headers: dict[str, str] | None = None
    ) -> int:
        """Returns the message's stream sequence once JetStream acknowledged it (a quorum stored
        it with R>1). A retry with the same msg_id within the duplicate window is a no-op that
        returns the original sequence. Raises LogUnavailable (retriable) when JetStream did not
        acknowledge within RETRY_BUDGET_S, LogRejected when it refused the message."""
        return await self._publish(subject, data, msg_id=msg_id, headers=headers)

    async def _publish(
        self,
        subject: str,
        data: bytes,
        *,
        msg_id: str,
        headers: dict[str, str] | None = None,
        ttl_s: int | None = None,
    ) -> int:
        started = time.monotonic()
        message_headers = {**(headers or {}), MSG_ID_HEADER: msg_id}

        async def attempt() -> api.PubAck:
            try:
                # nats-py adds its own headers to the dict it is given: hand it a copy each time.
                return await self._js.publish(
                    subject, data, timeout=REQUEST_TIMEOUT_S, headers=dict(message_headers), msg_ttl=ttl_s
                )
            except nats.js.errors.NoStreamResponseError:
                # Nobody takes the subject: an election in progress (retry) or no stream at all.
                await self._raise_if_stream_missing()
                raise

        try:
            ack = await self._retrying(f"publishing to {subject}", attempt)
        except LogUnavailable:
            metrics.LOG_PUBLISH_FAILURES.labels("unavailable").inc()
            raise
        except LogRejected:
            metrics.LOG_PUBLISH_FAILURES.labels("rejected").inc()
            raise
        except nats.errors.MaxPayloadError as error:
            metrics.LOG_PUBLISH_FAILURES.labels("rejected").inc()
            raise LogRejected(
                f"a message of {len(data)} bytes is larger than the log's servers take "
                f"(max_payload {self._client.max_payload} bytes)"
            ) from error
        metrics.LOG_PUBLISH_SECONDS.observe(time.monotonic() - started)
        return int(ack.seq)

    def consume(self, subject: str, start_seq: int) -> ChannelReader:
        """The messages of `subject` (exactly that subject) with sequence >= start_seq, in order."""
        reader = ChannelReader(self, subject, start_seq)
        self._readers.add(reader)
        return reader

    async def last_seq(self) -> int:
        """The stream's last sequence (0 while empty)."""
        info = await self._retrying("reading the log's state", lambda: self._js.stream_info(self.cfg.stream))
        return int(info.state.last_seq)

    async def next_seq(self, subject: str, after: int) -> int | None:
        """The sequence of the first message of `subject` after sequence `after`; None when there
        is none. The stream's leader answers (never a replica that may be behind)."""
        request = orjson.dumps({"seq": after + 1, "next_by_subj": subject})

        async def lookup() -> int | None:
            # The API request itself, not nats-py's get_msg: that one decodes the whole message
            # (base64 in JSON, up to 4 MB) when only its sequence is wanted.
            reply = orjson.loads((await self._client.request(self._msg_get_subject, request, timeout=REQUEST_TIMEOUT_S)).data)
            if "error" in reply:
                if reply["error"].get("err_code") == NO_MESSAGE_FOUND:
                    return None
                nats.js.errors.APIError.from_error(reply["error"])  # raises the error's own type
            return int(reply["message"]["seq"])

        return await self._retrying(f"reading {subject}", lookup)

    def next_seq_after_now(self, subject: str, after: int) -> asyncio.Task[int | None]:
        """next_seq, as a task that concurrent callers asking the same share: the lookup that
        answers a caller started after it asked."""
        key = (subject, after)
        shared = self._shared_lookups.get(key)
        if shared is None:
            shared = self._shared_lookups[key] = _SharedCall(lambda: self.next_seq(subject, after))
        task = shared.after_now()
        task.add_done_callback(lambda _: self._forget_lookup(key, shared))
        return task

    def _forget_lookup(self, key: tuple[str, int], shared: _SharedCall[int | None]) -> None:
        if shared.idle and self._shared_lookups.get(key) is shared:
            del self._shared_lookups[key]

    async def purge_before(self, subject: str, seq: int) -> None:
        """Removes the messages of `subject` with a sequence below `seq` (a checkpoint moved)."""
        if seq <= 1:
            return  # nothing is below 1; and JetStream reads a missing seq as "the whole subject"
        await self._retrying(
            f"truncating {subject} before {seq}",
            lambda: self._js.purge_stream(self.cfg.stream, seq=seq, subject=subject),
        )

    async def delete_subject(self, subject: str) -> None:
        """Removes every message of `subject` (the channel of a dropped collection)."""
        await self._retrying(f"deleting {subject}", lambda: self._js.purge_stream(self.cfg.stream, subject=subject))

    async def close(self) -> None:
        for reader in list(self._readers):
            await reader.close()
        await self._client.close()

    async def _stream_exists(self) -> bool:
        try:
            await self._js.stream_info(self.cfg.stream)
        except nats.js.errors.NotFoundError:
            return False
        return True

    async def _raise_if_stream_missing(self) -> None:
        try:
            await self._js.stream_info(self.cfg.stream)
        except nats.js.errors.NotFoundError as error:
            raise LogRejected(f"the log's stream {self.cfg.stream} does not exist", ErrorCode.UNEXPECTED) from error
        except nats.errors.Error:
            pass  # cannot tell now: the caller retries

    async def _retrying(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        """Runs `request`, retrying transient failures for RETRY_BUDGET_S; JetStream's refusals
        become LogRejected with its reason, running out of time LogUnavailable."""
        deadline = time.monotonic() + RETRY_BUDGET_S
        backoff = 0.05
        while True:
            try:
                return await request()
            except _TRANSIENT as error:
                if isinstance(error, nats.js.errors.APIError) and error.err_code in OUT_OF_STORAGE:
                    raise _out_of_storage(what, error) from error  # no point waiting for disk
                if time.monotonic() + backoff >= deadline:
                    raise LogUnavailable(
                        f"{what}: the log (NATS JetStream) did not answer within {RETRY_BUDGET_S:.0f} s "
                        f"({_describe(error)})"
                    ) from error
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
            except nats.js.errors.APIError as error:
                if error.err_code in OUT_OF_STORAGE:
                    raise _out_of_storage(what, error) from error
                raise LogRejected(f"{what}: JetStream refused: {error.description} (error {error.err_code})") from error
            except nats.errors.ConnectionClosedError as error:
                raise LogUnavailable(f"{what}: the connection to the log is closed") from error


def _out_of_storage(what: str, error: nats.js.errors.APIError) -> LogRejected:
    return LogRejected(
        f"{what}: the log (NATS JetStream) is out of storage; nothing was stored ({error.description})",
        ErrorCode.STORAGE_FULL,
    )


async def _why_unreachable(server: str, last_error: Exception) -> str:
    """Why a server could not be connected to, in words: tries a plain TCP connection to it."""
    url = urllib.parse.urlsplit(server if "://" in server else f"nats://{server}")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port or 4222), 1.0)
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return "no answer within 1 s"
    except OSError as error:
        return error.strerror or str(error)
    writer.close()
    await writer.wait_closed()
    return f"it accepts connections but the NATS handshake failed: {_describe(last_error)}"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


class ChannelReader:
    """The messages of one channel, in order, from a start sequence: an async iterator.

    A message counts as applied once the caller asks for the next one (or is waiting for one);
    `position` is the sequence of the last applied message. Only one task iterates a reader.

    Underneath is a JetStream pull consumer: ephemeral, in memory, ack policy none, filtered on
    the channel (and on this reader's barrier subject, see caught_up), delivering by start
    sequence. When it is lost (its server restarted, a message went missing on a reconnect, its
    pulls went unanswered), the reader creates a new one from the sequence after the last message
    it handed on, so nothing is skipped or repeated.
    """

    def __init__(self, log_: Log, subject: str, start_seq: int) -> None:
        self._log = log_
        self.subject = subject
        self.position = start_seq - 1
        self._handed_on = start_seq - 1  # the last message __anext__ returned
        # Every message of the channel up to this stream sequence has been applied.
        self._applied_through = start_seq - 1
        self._progress = asyncio.Event()  # set (and replaced) whenever _applied_through moves
        # This reader's own subject for caught_up's barriers: inside the stream, but never a
        # channel (channel subjects end in numbers).
        self._barrier_subject = f"{log_.cfg.subject_prefix}.barrier.{log_._client.new_inbox().rsplit('.', 1)[1]}"
        self._lookup = _SharedCall(self._next_unapplied)
        self._barrier = _SharedCall(self._publish_barrier)

        # The consumer of this generation and what it delivered so far.
        self._consumer: str | None = None
        self._generation = 0
        self._inbox: Subscription | None = None
        self._expected_consumer_seq = 1
        self._delivered: deque[Msg] = deque()
        self._delivered_bytes = 0
        self._arrived = asyncio.Event()
        self._pull_open = False
        self._pull_messages_left = 0
        self._pull_bytes_left = 0
        self._last_heard = 0.0
        self._lost: tuple[str, str] | None = None  # (cause, details): why the consumer is gone
        self._closed = False

    def __aiter__(self) -> ChannelReader:
        return self

    async def __anext__(self) -> LogMessage:
        if self._closed:
            raise StopAsyncIteration
        # Asking for the next message is how the caller says it applied the last one.
        if self._handed_on > self.position:
            self.position = self._handed_on
            self._advance(self._handed_on)
        while True:
            msg = await self._next_delivered()
            seq = msg.metadata.sequence.stream
            if msg.subject == self._barrier_subject:
                # Every message of the channel before the barrier was handed on and applied.
                self._advance(seq)
                continue
            self._handed_on = seq
            metrics.LOG_CONSUMED_MESSAGES.inc()
            return LogMessage(seq, msg.subject, dict(msg.headers or {}), msg.data)

    async def caught_up(self, timeout_s: float) -> None:
        """Returns once the caller has applied every message stored on the channel before this
        call began; raises LogUnavailable after timeout_s. The caller must be consuming.

        How: first a read. The stream's leader is asked for the channel's first message after
        the last one applied; when there is none, nothing the channel carried before the call
        is still to be applied. The leader answers: it stores a message before it acknowledges
        it, and with R>1 a message is acknowledged once a quorum has it, so a new leader has it
        too. That read writes nothing and is the common case of an idle or consumed channel.

        When the read finds the reader behind, a barrier (a message without payload) is
        published to this reader's own barrier subject, which its consumer also delivers, in
        stream order with the channel. JetStream gives the barrier a sequence above every message
        stored before it, so once the reader read past it, everything stored before this call
        was handed on and applied (the reader only reads on when the caller asks for the next
        message). A barrier bounds the wait under a steady stream of writes, where repeated reads
        could keep finding a newer message.

        Concurrent calls share the read and the barrier, but only ones started after the call
        began: one already on its way might have missed a message stored just before the call.

        Why not the consumer's own counters (consumer info: delivered C + num_pending P): the
        server acknowledges a publish before it tells the consumers about the message
        (nats-server stream.go sends the ack, then queues the consumer signal that increments
        num_pending), and an R1 consumer of an R3 stream may run on a follower whose store is
        behind the leader that acknowledged. Either way C+P can miss an acknowledged message.
        """
        try:
            async with asyncio.timeout(timeout_s):
                if await asyncio.shield(self._lookup.after_now()) is None:
                    return
                try:
                    barrier_seq = await asyncio.shield(self._barrier.after_now())
                except LogRejected as error:
                    if error.code is not ErrorCode.STORAGE_FULL:
                        raise
                    await self._chase()  # no barrier fits, and no write can be acknowledged
                    return
                await self._applied(barrier_seq)
        except TimeoutError:
            raise LogUnavailable(
                f"the reader of {self.subject} did not catch up within {timeout_s:g} s "
                f"(applied through sequence {self._applied_through})"
            ) from None

    async def _next_unapplied(self) -> int | None:
        """The sequence of the channel's first stored message the caller has not applied."""
        return await self._log.next_seq(self.subject, after=self._applied_through)

    async def _chase(self) -> None:
        """Applies up to the channel's last stored message. Ends only while no new messages are
        acknowledged (the log is out of storage); otherwise a barrier bounds the wait."""
        while (seq := await self._next_unapplied()) is not None:
            await self._applied(seq)

    async def _applied(self, seq: int) -> None:
        while self._applied_through < seq:
            await self._progress.wait()

    async def _publish_barrier(self) -> int:
        msg_id = f"barrier-{self._log._client.new_inbox().rsplit('.', 1)[1]}"
        return await self._log._publish(self._barrier_subject, b"", msg_id=msg_id, ttl_s=BARRIER_TTL_S)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._log._readers.discard(self)
        self._lookup.cancel()
        self._barrier.cancel()
        await self._drop_consumer(delete=True)

    def _advance(self, seq: int) -> None:
        if seq > self._applied_through:
            self._applied_through = seq
            self._progress.set()
            self._progress = asyncio.Event()

    async def _next_delivered(self) -> Msg:
        """The next message the consumer delivered, in order; re-creates the consumer as needed."""
        while True:
            if self._lost is not None:
                await self._replace_consumer(*self._lost)
            if self._consumer is None:
                await self._create_consumer()
            if not self._pull_open and self._delivered_bytes < self._log.cfg.pull_bytes:
                await self._pull()
            if self._delivered:
                msg = self._delivered.popleft()
                self._delivered_bytes -= len(msg.data)
                consumer_seq = msg.metadata.sequence.consumer
                if consumer_seq != self._expected_consumer_seq:
                    # Ack policy none: a message lost in transit (a reconnect) is never resent.
                    self._lost = ("gap", f"message {self._expected_consumer_seq} of the consumer went missing")
                    continue
                self._expected_consumer_seq += 1
                return msg
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), PULL_HEARTBEAT_S)
            except TimeoutError:
                silent_s = time.monotonic() - self._last_heard
                if self._pull_open and silent_s > PULL_HEARTBEAT_S * HEARTBEATS_MISSED:
                    self._lost = ("silent", f"no word from the consumer for {silent_s:.1f} s")

    async def _create_consumer(self) -> None:
        """A consumer from the message after the last one handed on, retried until the log answers."""
        cfg = self._log.cfg
        start_seq = max(self._handed_on + 1, 1)
        backoff = 0.1
        while True:
            name = self._log._client.new_inbox().rsplit(".", 1)[1]
            config = api.ConsumerConfig(
                name=name,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start_seq,
                ack_policy=api.AckPolicy.NONE,
                filter_subjects=[self.subject, self._barrier_subject],
                mem_storage=True,
                num_replicas=1,
                inactive_threshold=CONSUMER_INACTIVE_S,
            )
            try:
                await self._log._retrying(
                    f"reading {self.subject}", lambda: self._log._js.add_consumer(cfg.stream, config)
                )
            except LogUnavailable as error:
                log.warning("%s; retrying", error.message)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            break
        self._generation += 1
        generation = self._generation

        async def on_delivery(msg: Msg) -> None:
            if generation == self._generation:
                self._on_delivery(msg)

        self._inbox = await self._log._client.subscribe(self._log._client.new_inbox(), cb=on_delivery)
        self._consumer = name
        self._expected_consumer_seq = 1
        self._pull_open = False

    async def _pull(self) -> None:
        """Asks the consumer for the next batch: delivered to the inbox as the server sends it."""
        assert self._consumer is not None and self._inbox is not None
        cfg = self._log.cfg
        request = {
            "batch": PULL_BATCH,
            "max_bytes": cfg.pull_bytes,
            "expires": int(PULL_EXPIRES_S * 1e9),
            "idle_heartbeat": int(PULL_HEARTBEAT_S * 1e9),
        }
        self._pull_open, self._pull_messages_left, self._pull_bytes_left = True, PULL_BATCH, cfg.pull_bytes
        self._last_heard = time.monotonic()
        try:
            # The JetStream pull API that nats-py's own fetch uses, with max_bytes, which it lacks.
            await self._log._client.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{cfg.stream}.{self._consumer}",
                orjson.dumps(request),
                reply=self._inbox.subject,
            )
        except (nats.errors.ConnectionReconnectingError, nats.errors.OutboundBufferLimitError) as error:
            self._lost = ("unsent", f"the pull request was not sent: {_describe(error)}")

    def _on_delivery(self, msg: Msg) -> None:
        self._last_heard = time.monotonic()
        headers = msg.headers or {}
        status = headers.get(STATUS_HEADER)
        if not status:
            self._delivered.append(msg)
            self._delivered_bytes += len(msg.data)
            # What the server counts against max_bytes: subject, reply, headers and data.
            self._pull_bytes_left -= len(msg.subject) + len(msg.reply) + _header_bytes(msg) + len(msg.data)
            self._pull_messages_left -= 1
            if self._pull_messages_left <= 0 or self._pull_bytes_left <= 0:
                self._pull_open = False
        elif status == "100":
            pass  # idle heartbeat: the pull and its consumer are alive
        elif status in ("404", "408") or headers.get(DESCRIPTION_HEADER) in PULL_ENDED:
            self._pull_open = False  # the pull ended: expired, done, or the next message would not fit
        else:
            # 409 Consumer Deleted, Leadership Change, ...; 503: nobody serves the consumer.
            self._lost = ("status", f"the consumer answered {status} {headers.get(DESCRIPTION_HEADER, '')}".rstrip())
        self._arrived.set()

    async def _replace_consumer(self, cause: str, details: str) -> None:
        log.warning("reader of %s: %s; re-creating its consumer from sequence %d", self.subject, details, self._handed_on + 1)
        metrics.LOG_CONSUMER_RESETS.labels(cause).inc()
        self._lost = None
        # Not deleted: its server may be the one that is gone, and asking would stall the reader.
        # Unused, it vanishes after CONSUMER_INACTIVE_S.
        await self._drop_consumer(delete=False)

    async def _drop_consumer(self, *, delete: bool) -> None:
        """Forgets the consumer and what it delivered, deleting it (best effort) if asked."""
        name, inbox = self._consumer, self._inbox
        self._consumer, self._inbox = None, None
        self._generation += 1
        self._delivered.clear()
        self._delivered_bytes = 0
        self._pull_open = False
        if inbox is not None:
            try:
                await inbox.unsubscribe()
            except nats.errors.Error:
                pass  # the connection is closing or gone: the subscription went with it
        if delete and name is not None and self._log._client.is_connected:
            try:
                await self._log._js.delete_consumer(self._log.cfg.stream, name)
            except nats.errors.Error:
                pass


def _header_bytes(msg: Msg) -> int:
    if not msg.headers:
        return 0
    # "NATS/1.0\r\n", "Key: Value\r\n" per header, then "\r\n".
    return 10 + sum(len(key) + len(value) + 4 for key, value in msg.headers.items()) + 2


class _SharedCall(Generic[T]):
    """Runs of one call, one at a time, shared by concurrent callers. after_now() is a run that
    starts after it was asked for: the next one, when it has not started yet, or a new one."""

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self._running: asyncio.Task[T] | None = None
        self._next: asyncio.Task[T] | None = None

    def after_now(self) -> asyncio.Task[T]:
        if self._next is None:
            self._next = asyncio.create_task(self._run(after=self._running))
            self._next.add_done_callback(_retrieve_exception)
        return self._next

    @property
    def idle(self) -> bool:
        """Whether no run is asked for or under way."""
        return self._next is None and (self._running is None or self._running.done())

    def cancel(self) -> None:
        for task in (self._running, self._next):
            if task is not None:
                task.cancel()

    async def _run(self, after: asyncio.Task[T] | None) -> T:
        if after is not None:
            await asyncio.wait([after])
        # Under way from here: callers asking now must wait for the next run.
        self._running, self._next = self._next, None
        return await self._call()


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    """A shared run's failure reaches the callers waiting on it; when none waits any longer,
    this keeps asyncio from reporting it as never retrieved."""
    if not task.cancelled():
        task.exception()
