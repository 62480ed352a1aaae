"""The index node's build loop: takes tasks from the Redis Stream, reads the segment from the
object store, builds, writes the index there, and has the data node serving the segment load it.

Tasks are read through a consumer group, so each goes to one index node and stays pending
until that node acknowledges it. While a build runs, the node keeps re-claiming its task so
the task never looks idle; a task whose node died does go idle, and after `claim_timeout_s`
any index node claims it and builds it again.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from indexnode.builder import build
from quiver import bucket, keys, metrics, runtime, segmentfile
from quiver.errors import METADATA_STORE_DOWN, ErrorCode, QuiverError, metadata_store_error
from quiver.objectstore import ObjectStore
from quiver.rpc import Channels, call
from quiver.schema import Collection, IndexSpec, Node, RuntimeConfig
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb import datanode_pb2 as dpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.datanode_pb2_grpc import DataNodeStub

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 600.0  # the data node downloads and loads the index before it answers
_RETRY_LATER = {ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT}


@dataclass(frozen=True)
class Task:
    message_id: str
    segment_id: int
    index_version: int


class BuildWorker:
    def __init__(
        self,
        redis: Redis,
        store: ObjectStore,
        coordinator: CoordinatorStub,
        channels: Channels,
        node_id: str,
        claim_timeout_s: float,
        gpus: int = 0,
    ) -> None:
        self._redis = redis
        self._store = store
        self._coordinator = coordinator
        self._channels = channels
        self._node_id = node_id
        self._claim_timeout_ms = int(claim_timeout_s * 1000)
        self._gpus = gpus
        self._gpu = self._build_device(RuntimeConfig())
        self.builds = 0

    def _build_device(self, config: RuntimeConfig) -> int | None:
        """The GPU to build on: the first of gpu_resources' build devices this node has."""
        if not config.gpu_enable:
            return None
        return next((d for d in config.gpu_build_devices if d < self._gpus), None)

    async def apply_config(self, config: RuntimeConfig) -> None:
        self._gpu = self._build_device(config)

    async def run(self, stop: asyncio.Event) -> None:
        await self._join_group()
        while not stop.is_set():
            try:
                task = await self._next_task()
                if task is not None:
                    await self._process(task)
            except Exception:  # Redis or a bug: log, back off, keep the worker alive
                log.exception("build loop error")
                await asyncio.sleep(1.0)

    async def _join_group(self) -> None:
        try:  # from the start of the stream: tasks queued before any index node existed count
            await self._redis.xgroup_create(keys.INDEX_TASKS, keys.INDEX_TASK_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _next_task(self) -> Task | None:
        """An abandoned task first (its node stopped re-claiming it), else a new one."""
        claimed = await self._redis.xautoclaim(
            keys.INDEX_TASKS, keys.INDEX_TASK_GROUP, self._node_id,
            min_idle_time=self._claim_timeout_ms, start_id="0-0", count=1,
        )
        messages = claimed[1]
        if not messages:
            read = await self._redis.xreadgroup(
                keys.INDEX_TASK_GROUP, self._node_id, {keys.INDEX_TASKS: ">"}, count=1, block=1000
            )
            messages = read[0][1] if read else []
        for message_id, fields in messages:
            if fields:  # an entry deleted from the stream comes back empty
                return Task(message_id, int(fields["segment_id"]), int(fields["index_version"]))
            await self._ack(message_id)
        return None

    async def _ack(self, message_id: str) -> None:
        """Done with a task: acknowledged, and deleted so the stream does not grow forever."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.INDEX_TASKS, keys.INDEX_TASK_GROUP, message_id)
            pipe.xdel(keys.INDEX_TASKS, message_id)
            await pipe.execute()

    async def _keep_claimed(self, message_id: str) -> None:
        while True:
            await asyncio.sleep(self._claim_timeout_ms / 3000)
            await self._redis.xclaim(
                keys.INDEX_TASKS, keys.INDEX_TASK_GROUP, self._node_id, 0, [message_id], justid=True
            )

    async def _process(self, task: Task) -> None:
        keepalive = asyncio.create_task(self._keep_claimed(task.message_id))
        try:
            await self._build(task)
            await self._ack(task.message_id)
        except (QuiverError, *METADATA_STORE_DOWN) as caught:
            # Handled in a frame of its own: a name bound here to the error would hold this
            # frame, and through the traceback the build's vectors and index, in a reference
            # cycle until the garbage collector next runs a full pass.
            await self._settle(task, caught if isinstance(caught, QuiverError) else metadata_store_error(caught))
        except Exception as error:  # the build itself failed (bad parameters for the data, ...)
            log.exception("segment %d build failed", task.segment_id)
            await self._fail(task, f"{type(error).__name__}: {error}")
        finally:
            keepalive.cancel()
            await asyncio.to_thread(runtime.return_free_memory)  # the build's heap

    async def _settle(self, task: Task, error: QuiverError) -> None:
        if error.code in _RETRY_LATER:  # left pending: claimed again once idle
            log.warning("segment %d build postponed: %s", task.segment_id, error.message)
            metrics.INDEX_BUILDS.labels(outcome="postponed").inc()
            await asyncio.sleep(1.0)
        else:
            log.warning("segment %d build failed: %s", task.segment_id, error.message)
            await self._fail(task, error.message)

    async def _fail(self, task: Task, reason: str) -> None:
        metrics.INDEX_BUILDS.labels(outcome="failed").inc()
        await self._finish(task, failed=True, reason=reason)
        await self._ack(task.message_id)

    async def _build(self, task: Task) -> None:
        reply = await call(
            self._coordinator.StartBuild,
            cpb.BuildRef(segment_id=task.segment_id, index_version=task.index_version, node_id=self._node_id),
            peer="coordinator",
        )
        if not reply.proceed:
            log.info("segment %d: index %d was dropped or replaced; skipping", task.segment_id, task.index_version)
            return
        collection = Collection.from_proto(reply.collection)
        spec = IndexSpec.from_proto(reply.spec)
        owner = Node.from_proto(reply.owner)
        data_node = DataNodeStub(self._channels.get(owner.address))
        peer = f"data node {owner.node_id} at {owner.address}"
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="quiver-build-") as scratch:
            rows = Path(scratch) / "data.arrow"
            await self._store.get_to_file(bucket.segment_rows(collection.id, task.segment_id), rows)
            vectors = (await asyncio.to_thread(segmentfile.read, rows, collection.layout)).vectors
            log.info("building %s over %d rows of segment %d", spec.index_type, len(vectors), task.segment_id)
            data = await asyncio.to_thread(build, spec, collection.layout, vectors, self._gpu)
            del vectors  # they point into the file's mapping
        await self._store.put(bucket.index_file(collection.id, task.segment_id, spec.version), data)
        del data
        request = dpb.LoadIndexRequest(segment_id=task.segment_id, spec=spec.to_proto())
        try:
            await call(data_node.LoadIndex, request, peer=peer, timeout=LOAD_TIMEOUT_S)
        except QuiverError as error:
            if error.code is not ErrorCode.SEGMENT_NOT_FOUND:
                raise
            # The segment moved to another data node meanwhile: the index is in the bucket, and
            # its new owner loads it once the coordinator records the build finished.
            log.info("segment %d moved off %s during its build: %s", task.segment_id, owner.node_id, error.message)
        await self._finish(task, failed=False)
        metrics.INDEX_BUILD_SECONDS.labels(index_type=spec.index_type).observe(time.perf_counter() - started)
        metrics.INDEX_BUILDS.labels(outcome="finished").inc()
        self.builds += 1

    async def _finish(self, task: Task, failed: bool, reason: str = "") -> None:
        await call(
            self._coordinator.FinishBuild,
            cpb.FinishBuildRequest(
                build=cpb.BuildRef(segment_id=task.segment_id, index_version=task.index_version, node_id=self._node_id),
                failed=failed,
                reason=reason,
            ),
            peer="coordinator",
        )
