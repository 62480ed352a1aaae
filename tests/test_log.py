"""The log (quiver/log.py) against real nats-server processes: a single JetStream server, and a
3-node cluster with an R=3 stream that loses a node while being written and read."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats.errors
import orjson
import pytest

from quiver.log import ChannelReader, Log, LogConfig, LogMessage, LogRejected, LogUnavailable
from quiver.metrics import LOG_CONSUMER_RESETS
from quiver.standalone import LOOPBACK, free_port
from tests.nats import NatsCluster


@pytest.fixture(scope="module")
async def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsCluster]:
    server = NatsCluster(tmp_path_factory.mktemp("nats"), size=1)
    await server.start()
    yield server
    await server.stop()


def stream_config(servers: tuple[str, ...], **overrides: object) -> LogConfig:
    """A stream and subjects of its own, so tests sharing a server do not see each other."""
    tag = uuid.uuid4().hex[:10]
    return LogConfig(servers=servers, stream=f"T{tag}", subject_prefix=f"t{tag}.wal", **overrides)  # type: ignore[arg-type]


@pytest.fixture
async def log(nats_server: NatsCluster) -> AsyncIterator[Log]:
    connected = await Log.connect(stream_config(nats_server.servers), name="test")
    await connected.ensure_stream()
    yield connected
    await connected.close()


async def drain(reader: ChannelReader, timeout_s: float = 10.0) -> list[LogMessage]:
    """Every message stored on the reader's channel now: reads until caught_up() returns."""
    received: list[LogMessage] = []

    async def read() -> None:
        async for message in reader:
            received.append(message)

    reading = asyncio.create_task(read())
    try:
        await reader.caught_up(timeout_s)
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    return received


async def test_round_trip_in_order_across_two_channels(log: Log) -> None:
    a, b = log.channel_subject(7, 0), log.channel_subject(7, 1)
    published: dict[str, list[tuple[int, bytes]]] = {a: [], b: []}
    for i in range(40):
        for subject in (a, b):
            data = f"{subject}-{i}".encode() * 10
            seq = await log.publish(subject, data, msg_id=f"{subject}-{i}", headers={"rows": str(i)})
            published[subject].append((seq, data))
    assert a == f"{log.cfg.subject_prefix}.7.0"
    assert await log.last_seq() == 80

    for subject in (a, b):
        reader = log.consume(subject, 1)
        messages = await drain(reader)
        await reader.close()
        assert [(m.seq, bytes(m.data)) for m in messages] == published[subject]
        assert {m.subject for m in messages} == {subject}
        assert [m.headers["rows"] for m in messages] == [str(i) for i in range(40)]
        assert reader.position == published[subject][-1][0]


async def test_a_retried_publish_is_stored_once(log: Log) -> None:
    subject = log.channel_subject(1, 0)
    first = await log.publish(subject, b"rows", msg_id="insert-1")
    again = await log.publish(subject, b"rows", msg_id="insert-1")
    other = await log.publish(subject, b"more rows", msg_id="insert-2")
    assert again == first and other == first + 1

    reader = log.consume(subject, 1)
    assert [(m.seq, bytes(m.data)) for m in await drain(reader)] == [(first, b"rows"), (other, b"more rows")]
    await reader.close()


async def test_a_new_reader_resumes_from_a_start_sequence(log: Log) -> None:
    subject = log.channel_subject(2, 0)
    seqs = [await log.publish(subject, f"m{i}".encode(), msg_id=f"m{i}") for i in range(10)]

    first = log.consume(subject, 1)
    for _ in range(4):
        await anext(first)
    await anext(first)  # asking for the fifth applies the fourth
    checkpoint = first.position
    assert checkpoint == seqs[3]
    await first.close()

    resumed = log.consume(subject, checkpoint + 1)
    assert [m.seq for m in await drain(resumed)] == seqs[4:]
    await resumed.close()


async def test_caught_up_waits_for_messages_stored_before_it_and_not_after(log: Log) -> None:
    subject = log.channel_subject(3, 0)
    handed_on: asyncio.Queue[LogMessage] = asyncio.Queue()
    apply_next: asyncio.Queue[None] = asyncio.Queue()
    reader = log.consume(subject, 1)

    async def slow_reader() -> None:
        async for message in reader:
            await handed_on.put(message)
            await apply_next.get()  # the message is applied when the test says so

    reading = asyncio.create_task(slow_reader())
    try:
        before_1 = await log.publish(subject, b"m1", msg_id="m1")
        assert (await handed_on.get()).seq == before_1  # handed on, not applied
        before_2 = await log.publish(subject, b"m2", msg_id="m2")

        barrier = asyncio.create_task(reader.caught_up(10))
        await asyncio.sleep(0.5)  # caught_up's barrier is in the log by now
        after = await log.publish(subject, b"m3", msg_id="m3")
        assert not barrier.done()

        await apply_next.put(None)  # applies m1; m2 is handed on
        assert (await handed_on.get()).seq == before_2
        await asyncio.sleep(0.2)
        assert not barrier.done(), "caught_up returned before m2 was applied"

        await apply_next.put(None)  # applies m2; m3 (published after the call) is handed on
        assert (await handed_on.get()).seq == after
        await asyncio.wait_for(barrier, 5)  # m3 is not applied, and not waited for
        assert reader.position == before_2
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await reader.close()


async def test_caught_up_sees_a_message_acknowledged_just_before(log: Log) -> None:
    subject = log.channel_subject(6, 0)
    reader = log.consume(subject, 1)
    received: list[LogMessage] = []

    async def read() -> None:
        async for message in reader:
            received.append(message)

    reading = asyncio.create_task(read())
    try:
        await assert_caught_up_sees_each_acknowledged_message(log, reader, subject, received)
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await reader.close()


async def assert_caught_up_sees_each_acknowledged_message(
    log: Log, reader: ChannelReader, subject: str, received: list[LogMessage], rounds: int = 30
) -> list[tuple[int, bytes]]:
    """Each round publishes one message and at once waits for the reader to catch up: the
    message must have been applied (the reader asked for the next one after appending it).
    Returns what was published, as (sequence, data)."""
    published = []
    for i in range(rounds):
        data = f"fresh-{i}".encode()
        seq = await log.publish(subject, data, msg_id=f"fresh-{uuid.uuid4().hex}")
        await reader.caught_up(5)
        assert received and received[-1].seq == seq, f"round {i}: caught up before message {seq} was applied"
        published.append((seq, data))
    return published


async def test_caught_up_with_nothing_pending_is_quick(log: Log) -> None:
    subject = log.channel_subject(4, 0)
    await log.publish(subject, b"x" * 4 * 1024 * 1024, msg_id="big")
    reader = log.consume(subject, 1)
    assert len(await drain(reader)) == 1

    reading = asyncio.create_task(anext(reader))  # the caller waits for more
    try:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            await reader.caught_up(5)
            timings.append(time.perf_counter() - started)
        # Concurrent calls share barriers.
        started = time.perf_counter()
        await asyncio.gather(*(reader.caught_up(5) for _ in range(50)))
        concurrent_s = time.perf_counter() - started
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await reader.close()
    print(f"\ncaught_up, nothing pending: best {min(timings) * 1e3:.1f} ms; 50 concurrent: {concurrent_s * 1e3:.1f} ms")
    assert min(timings) < 0.25
    assert concurrent_s < 1.0


async def test_shared_lookups_are_shared_answer_after_the_call_and_are_forgotten(log: Log) -> None:
    subject = log.channel_subject(9, 0)
    first = await log.publish(subject, b"a", msg_id=f"a-{uuid.uuid4().hex}")
    asked = [log.next_seq_after_now(subject, 0) for _ in range(5)]
    assert all(task is asked[0] for task in asked), "concurrent lookups of the same share one"
    assert await asked[0] == first
    second = await log.publish(subject, b"b", msg_id=f"b-{uuid.uuid4().hex}")
    assert await log.next_seq_after_now(subject, first) == second  # started after the publish
    assert await log.next_seq_after_now(subject, second) is None
    assert not log._shared_lookups, "finished lookups are not kept"


async def test_purge_before_and_delete_subject(log: Log) -> None:
    a, b = log.channel_subject(5, 0), log.channel_subject(5, 1)
    a_seqs, b_seqs = [], []
    for i in range(5):
        a_seqs.append(await log.publish(a, b"a", msg_id=f"a{i}"))
        b_seqs.append(await log.publish(b, b"b", msg_id=f"b{i}"))

    await log.purge_before(a, a_seqs[2])
    reader = log.consume(a, 1)
    assert [m.seq for m in await drain(reader)] == a_seqs[2:]
    await reader.close()
    reader = log.consume(b, 1)
    assert [m.seq for m in await drain(reader)] == b_seqs
    await reader.close()

    await log.delete_subject(b)
    reader = log.consume(b, 1)
    assert await drain(reader) == []
    await reader.close()
    reader = log.consume(a, 1)
    assert [m.seq for m in await drain(reader)] == a_seqs[2:]
    await reader.close()


async def test_connecting_to_a_dead_address_names_it_quickly() -> None:
    dead = f"nats://{LOOPBACK}:{free_port()}"
    started = time.monotonic()
    with pytest.raises(LogUnavailable) as raised:
        await Log.connect(LogConfig(servers=(dead,)), name="test")
    assert time.monotonic() - started < 6
    assert raised.value.message == f"the log (NATS JetStream) at {dead} is unreachable: connection refused"
    assert raised.value.retriable


async def test_a_message_over_the_size_limit_is_rejected_and_not_stored(nats_server: NatsCluster) -> None:
    log = await Log.connect(stream_config(nats_server.servers, max_message_bytes=64 * 1024), name="test")
    try:
        await log.ensure_stream()
        subject = log.channel_subject(6, 0)
        with pytest.raises(LogRejected) as raised:
            await log.publish(subject, b"x" * (64 * 1024 + 1), msg_id="too-big")
        assert "message size exceeds maximum allowed" in raised.value.message
        assert not raised.value.retriable
        # Over what the server takes at all (its max_payload): refused before it is sent.
        with pytest.raises(LogRejected, match="larger than the log's servers take"):
            await log.publish(subject, b"x" * (9 * 1024 * 1024), msg_id="far-too-big")
        assert await log.last_seq() == 0
    finally:
        await log.close()


async def test_acknowledged_messages_survive_sigkill_of_a_single_server(tmp_path: Path) -> None:
    server = NatsCluster(tmp_path, size=1)
    await server.start()
    try:
        cfg = stream_config(server.servers)
        log = await Log.connect(cfg, name="test")
        await log.ensure_stream()
        subject = log.channel_subject(8, 0)
        acknowledged = await asyncio.gather(
            *(log.publish(subject, f"row-{i}".encode() * 100, msg_id=f"r{i}") for i in range(300))
        )
        await server.nodes[0].kill()  # right after the last acknowledgement
        await log.close()

        await server.nodes[0].start()
        log = await Log.connect(cfg, name="test")
        reader = log.consume(subject, 1)
        messages = await drain(reader)
        await log.close()
        assert [m.seq for m in messages] == sorted(acknowledged)
        assert {bytes(m.data) for m in messages} == {f"row-{i}".encode() * 100 for i in range(300)}
    finally:
        await server.stop()


async def test_r3_stream_keeps_acknowledging_and_reading_through_the_loss_of_its_leader(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path, size=3)
    await cluster.start()
    publisher = reader_log = None
    try:
        cfg = stream_config(cluster.servers, replicas=3)
        publisher = await Log.connect(cfg, name="publisher")
        await publisher.ensure_stream()
        reader_log = await Log.connect(cfg, name="reader")
        subject = publisher.channel_subject(9, 0)
        acknowledged: list[tuple[int, bytes]] = []
        received: list[LogMessage] = []
        stop_publishing = asyncio.Event()

        async def publish_continuously() -> None:
            i = 0
            while not stop_publishing.is_set():
                data = f"row-{i}".encode()
                while True:  # a publish that timed out is retried with the same id
                    try:
                        acknowledged.append((await publisher.publish(subject, data, msg_id=f"r{i}"), data))
                        break
                    except LogUnavailable:
                        pass
                i += 1

        reader = reader_log.consume(subject, 1)

        async def read() -> None:
            async for message in reader:
                received.append(message)

        publishing, reading = asyncio.create_task(publish_continuously()), asyncio.create_task(read())
        while len(received) < 100:
            await asyncio.sleep(0.05)

        # The node to lose hosts the reader's consumer and leads the stream: the reader loses its
        # consumer and the stream elects a new leader.
        consumer = await reader_log._js.consumer_info(cfg.stream, reader._consumer)
        leader = cluster.node(consumer.cluster.leader)
        await move_stream_leader(publisher, cfg.stream, leader.name)
        resets_before = consumer_resets()
        await leader.kill()
        killed_at = len(acknowledged)
        deadline = time.monotonic() + 30
        while len(acknowledged) < killed_at + 100 or len(received) < killed_at + 100:
            assert time.monotonic() < deadline, f"stalled after the kill: {len(acknowledged)} acknowledged, {len(received)} read"
            await asyncio.sleep(0.05)

        await leader.start()
        deadline = time.monotonic() + 30
        while True:  # the restarted node catches up and is a current replica again
            info = await publisher._js.stream_info(cfg.stream)
            peers = {peer.name: peer for peer in info.cluster.replicas or []}
            if leader.name in peers and peers[leader.name].current and not peers[leader.name].offline:
                break
            if leader.name == info.cluster.leader:
                break
            assert time.monotonic() < deadline, f"{leader.name} did not rejoin: {info.cluster}"
            await asyncio.sleep(0.2)

        stop_publishing.set()
        await publishing
        await reader.caught_up(15)
        acknowledged += await assert_caught_up_sees_each_acknowledged_message(publisher, reader, subject, received)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await reader.close()
        assert [(m.seq, bytes(m.data)) for m in received] == acknowledged
        assert len({data for _, data in acknowledged}) == len(acknowledged)
        assert consumer_resets() > resets_before
    finally:
        for connection in (publisher, reader_log):
            if connection is not None:
                await connection.close()
        await cluster.stop()


async def move_stream_leader(log: Log, stream: str, server_name: str) -> None:
    deadline = time.monotonic() + 30
    while (await log._js.stream_info(stream)).cluster.leader != server_name:
        assert time.monotonic() < deadline, f"the stream's leadership did not move to {server_name}"
        with contextlib.suppress(nats.errors.Error):
            await log._client.request(
                f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}",
                orjson.dumps({"placement": {"preferred": server_name}}),
                timeout=5,
            )
        await asyncio.sleep(0.5)


def consumer_resets() -> float:
    return sum(sample.value for metric in LOG_CONSUMER_RESETS.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


async def test_throughput_on_a_single_server(log: Log) -> None:
    """Printed, not asserted: publish and consume rates of 1 MB and 2 KB messages."""
    report = []
    for label, size, count in (("1 MB", 1024 * 1024, 64), ("2 KB", 2048, 4000)):
        subject = log.channel_subject(10, size)
        payload = b"v" * size
        in_flight = asyncio.Semaphore(32)

        async def publish(i: int) -> int:
            async with in_flight:
                return await log.publish(subject, payload, msg_id=f"{size}-{i}")

        started = time.perf_counter()
        await asyncio.gather(*(publish(i) for i in range(count)))
        publish_s = time.perf_counter() - started

        reader = log.consume(subject, 1)
        started = time.perf_counter()
        messages = await drain(reader, timeout_s=60)
        consume_s = time.perf_counter() - started
        await reader.close()
        assert len(messages) == count
        megabytes = size * count / 1e6
        report.append(
            f"{label}: publish {count / publish_s:,.0f} msg/s {megabytes / publish_s:,.1f} MB/s; "
            f"consume {count / consume_s:,.0f} msg/s {megabytes / consume_s:,.1f} MB/s"
        )
    print("\n" + "\n".join(report))
