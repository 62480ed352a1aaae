"""The cluster catalogue in Redis: collections, segments, nodes and the id counter.

This is the only module that reads or writes Redis keys (their formats live in quiver.keys).
Changes that touch several keys run in MULTI/EXEC transactions guarded by WATCH, or in Lua.
Writes whose loss would lose or duplicate data or metadata (collections, partitions, segments,
channels and their checkpoints, ids, indexes, aliases, settings, users) are durable writes: under
Sentinel they wait for the replica (quiver.redisconn.ReplicatedTransaction), so that a failover
keeps them. What is rebuilt or renewed on its own (node liveness, leases, statistics, build
states, garbage schedules) is written to the primary alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import orjson
from google.protobuf import json_format
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from quiver import bucket, keys
from quiver.leases import Leases
from quiver.errors import ErrorCode, QuiverError
from quiver.ids import now_ms, time_floor
from quiver.redisconn import ReplicatedTransaction, ReplicaWait
from quiver.schema import (
    Channel,
    Collection,
    IdMode,
    IndexSpec,
    IndexState,
    Node,
    Partition,
    RuntimeConfig,
    Segment,
    SegmentState,
)
from quiver_pb import common_pb2 as pb

T = TypeVar("T")

# Updates the statistics of segments that still exist on the reporting node ARGV[1]. Returns
# the ids of the others (their collection was dropped, or their channel moved to another node:
# the reporting node drops its copies).
_UPDATE_SEGMENTS = """
local unknown = {}
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 6
  if redis.call('HGET', key, 'node_id') == ARGV[1] then
    redis.call('HSET', key, 'state', ARGV[base + 2], 'row_count', ARGV[base + 3],
               'deleted_count', ARGV[base + 4], 'data_bytes', ARGV[base + 5],
               'resident', ARGV[base + 6])
  else
    table.insert(unknown, ARGV[base + 1])
  end
end
return unknown
"""
# Records channel ARGV[1]'s checkpoint ARGV[3] if node ARGV[2] still consumes it and it moves on.
_RECORD_CHECKPOINT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local channel = cjson.decode(current)
if channel.node_id ~= ARGV[2] or tonumber(ARGV[3]) <= channel.checkpoint then return 0 end
channel.checkpoint = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(channel))
return 1
"""
# Queues a build of index version ARGV[1] for each segment not already queued for it.
_QUEUE_BUILDS = """
local queued = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 and redis.call('HGET', key, 'index_version') ~= ARGV[1] then
    redis.call('HSET', key, 'index_version', ARGV[1], 'index_state', ARGV[2], 'index_reason', '')
    redis.call('XADD', KEYS[1], '*', 'segment_id', ARGV[i + 1], 'index_version', ARGV[1])
    table.insert(queued, ARGV[i + 1])
  end
end
return queued
"""
# Moves a segment's build on, only if it is still the build of that index version.
_SET_BUILD_STATE = """
if redis.call('HGET', KEYS[1], 'index_version') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'index_state', ARGV[2], 'index_reason', ARGV[3])
  return 1
end
return 0
"""
# Adds partition ARGV[1] (JSON ARGV[2]) to a collection holding fewer than ARGV[3] and bumps
# its version field ARGV[4]: 1 added, 0 exists, -1 no such collection, -2 at the limit.
_ADD_PARTITION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -2 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], ARGV[4], 1)
return 1
"""


class Catalog:
    def __init__(self, redis: Redis, garbage_grace_s: float = 60.0, *, wait_for_replica: bool = False) -> None:
        """`wait_for_replica`: Redis has a replica (Sentinel) that durable writes wait for."""
        self._redis = redis
        self._replicas = ReplicaWait() if wait_for_replica else None
        self.garbage_grace_ms = int(garbage_grace_s * 1000)
        self._update_segments = redis.register_script(_UPDATE_SEGMENTS)
        self._record_checkpoint = redis.register_script(_RECORD_CHECKPOINT)
        self._queue_builds = redis.register_script(_QUEUE_BUILDS)
        self._set_build_state = redis.register_script(_SET_BUILD_STATE)
        self._add_partition = redis.register_script(_ADD_PARTITION)
        self._leases = Leases(redis)
        # The last parse of each collection, with what it came from: a collection with
        # thousands of partitions takes milliseconds to read and parse, and every heartbeat
        # reads each collection its node serves.
        self._parsed: dict[int, tuple[tuple[str | None, ...], Collection]] = {}

    def _durable(self) -> Pipeline:
        """A MULTI/EXEC transaction for a durable write (see the module's doc)."""
        if self._replicas is not None:
            return ReplicatedTransaction(self._redis, self._replicas)
        return self._redis.pipeline(transaction=True)

    async def _transaction(self, watch: list[str], body: Callable[[Pipeline], Awaitable[T]]) -> T:
        """Runs `body` under WATCH until no watched key changed underneath it: a durable write."""
        while True:
            async with self._durable() as pipe:
                try:
                    await pipe.watch(*watch)
                    return await body(pipe)
                except WatchError:
                    continue

    # -- the coordinator lease ----------------------------------------------------------------

    async def take_lease(self, holder: str, ttl_s: float) -> bool:
        return await self._leases.take(keys.COORDINATOR_LEASE, holder, int(ttl_s * 1000))

    async def renew_lease(self, holder: str, ttl_s: float) -> bool:
        return await self._leases.renew(keys.COORDINATOR_LEASE, holder, int(ttl_s * 1000))

    async def release_lease(self, holder: str) -> None:
        await self._leases.release(keys.COORDINATOR_LEASE, holder)

    async def ping(self) -> None:
        await self._redis.ping()

    async def index_tasks_queued(self) -> int:
        return int(await self._redis.xlen(keys.INDEX_TASKS))

    # -- ids ----------------------------------------------------------------------------------

    async def allocate_ids(self, count: int) -> int:
        """Reserves `count` consecutive ids, never below the current time floor."""

        async def body(pipe: Pipeline) -> int:
            current = int(await pipe.get(keys.ID_COUNTER) or 0)
            start = max(current, time_floor())
            pipe.multi()
            pipe.set(keys.ID_COUNTER, start + count)
            await pipe.execute()
            return start

        return await self._transaction([keys.ID_COUNTER], body)

    # -- collections --------------------------------------------------------------------------

    async def create_collection(self, collection: Collection, channels: list[Channel]) -> Collection:
        meta = _collection_json(collection)

        async def body(pipe: Pipeline) -> Collection:
            if await pipe.hexists(keys.COLLECTION_NAMES, collection.name) or await pipe.hexists(
                keys.ALIASES, collection.name
            ):
                raise QuiverError(
                    ErrorCode.COLLECTION_EXISTS, f"collection {collection.name!r} already exists"
                )
            pipe.multi()
            pipe.hset(keys.COLLECTION_NAMES, collection.name, collection.id)
            pipe.hset(
                keys.collection(collection.id),
                mapping={keys.COLLECTION_META: meta, keys.COLLECTION_VERSION: collection.version},
            )
            pipe.hset(
                keys.collection_partitions(collection.id),
                mapping={p.name: _partition_json(p) for p in collection.partitions},
            )
            pipe.hset(
                keys.collection_channels(collection.id),
                mapping={str(c.shard): _channel_json(c) for c in channels},
            )
            await pipe.execute()
            return collection

        return await self._transaction([keys.COLLECTION_NAMES, keys.ALIASES], body)

    async def drop_collection(self, collection: Collection) -> list[Segment]:
        """Removes the collection and its segment records; returns the segments it had."""
        segments = await self.collection_segments(collection.id)

        async def body(pipe: Pipeline) -> None:
            pipe.multi()
            pipe.hdel(keys.COLLECTION_NAMES, collection.name)
            pipe.delete(
                keys.collection(collection.id),
                keys.collection_partitions(collection.id),
                keys.collection_segments(collection.id),
                keys.collection_channels(collection.id),
                keys.collection_indexes(collection.id),
                *(keys.segment(s.id) for s in segments),
            )
            self._collect_later(pipe, _segment_objects(segments))
            await pipe.execute()

        await self._transaction([keys.collection_segments(collection.id)], body)
        self._parsed.pop(collection.id, None)
        return segments

    async def collection_id(self, name: str) -> int | None:
        """The collection with this name, or with this alias."""
        value = await self._redis.hget(keys.COLLECTION_NAMES, name)
        if value is None:
            value = await self._redis.hget(keys.ALIASES, name)
        return int(value) if value is not None else None

    async def rename_collection(self, collection: Collection, new_name: str) -> None:
        key = keys.collection(collection.id)

        async def body(pipe: Pipeline) -> None:
            if await pipe.hexists(keys.COLLECTION_NAMES, new_name) or await pipe.hexists(keys.ALIASES, new_name):
                raise QuiverError(ErrorCode.COLLECTION_EXISTS, f"collection {new_name!r} already exists")
            current = await self._read_collection(pipe, collection.id)
            pipe.multi()
            pipe.hdel(keys.COLLECTION_NAMES, current.name)
            pipe.hset(keys.COLLECTION_NAMES, new_name, collection.id)
            pipe.hset(key, keys.COLLECTION_META, _collection_json(current.with_changes(name=new_name)))
            pipe.hincrby(key, keys.COLLECTION_VERSION, 1)
            await pipe.execute()

        await self._transaction([keys.COLLECTION_NAMES, keys.ALIASES, key], body)

    async def set_released(self, collection_id: int, released: bool) -> None:
        key = keys.collection(collection_id)

        async def body(pipe: Pipeline) -> None:
            current = await self._read_collection(pipe, collection_id)
            pipe.multi()
            pipe.hset(key, keys.COLLECTION_META, _collection_json(current.with_changes(released=released)))
            pipe.hincrby(key, keys.COLLECTION_VERSION, 1)
            await pipe.execute()

        await self._transaction([key], body)

    # -- aliases ------------------------------------------------------------------------------

    async def aliases(self) -> dict[str, int]:
        return {alias: int(i) for alias, i in (await self._redis.hgetall(keys.ALIASES)).items()}

    async def put_alias(self, alias: str, collection_id: int, *, create: bool) -> None:
        """Creates an alias (it must be new), or re-points an existing one."""

        async def body(pipe: Pipeline) -> None:
            if await pipe.hexists(keys.COLLECTION_NAMES, alias):
                raise QuiverError(ErrorCode.ALIAS_CONFLICT, f"{alias!r} is the name of a collection")
            exists = await pipe.hexists(keys.ALIASES, alias)
            if create and exists:
                raise QuiverError(ErrorCode.ALIAS_EXISTS, f"alias {alias!r} already exists")
            if not create and not exists:
                raise QuiverError(ErrorCode.ALIAS_NOT_FOUND, f"alias {alias!r} not found")
            pipe.multi()
            pipe.hset(keys.ALIASES, alias, collection_id)
            await pipe.execute()

        await self._transaction([keys.COLLECTION_NAMES, keys.ALIASES], body)

    async def drop_alias(self, alias: str) -> None:
        async with self._durable() as pipe:
            pipe.hdel(keys.ALIASES, alias)
            (removed,) = await pipe.execute()
        if not removed:
            raise QuiverError(ErrorCode.ALIAS_NOT_FOUND, f"alias {alias!r} not found")

    async def get_collection(self, collection_id: int) -> Collection | None:
        found = await self.get_collections([collection_id])
        return found[0] if found else None

    async def list_collections(self) -> list[Collection]:
        ids = [int(i) for i in await self._redis.hvals(keys.COLLECTION_NAMES)]
        return sorted(await self.get_collections(ids), key=lambda c: c.created_ms)

    async def get_collections(self, ids: list[int]) -> list[Collection]:
        """The collections with these ids that exist, with their index specs and aliases."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for collection_id in ids:
                pipe.hgetall(keys.collection(collection_id))
                pipe.hvals(keys.collection_indexes(collection_id))
            pipe.hgetall(keys.ALIASES)
            *rows, aliases = await pipe.execute()
        heads = {i: (fields, specs) for i, fields, specs in zip(ids, rows[::2], rows[1::2]) if fields}
        await self._parse_changed(heads)
        found = []
        for collection_id in heads:
            collection = self._parsed[collection_id][1]
            named = tuple(sorted(a for a, i in aliases.items() if int(i) == collection_id))
            found.append(collection.with_changes(aliases=named))
        return found

    async def _parse_changed(self, heads: dict[int, tuple[dict[str, str], list[str]]]) -> None:
        """Parses the collections whose hash or index specs changed since their last parse,
        reading their partitions only then: every change of partitions bumps the version, and
        a collection may have thousands of them."""
        changed = {}
        for collection_id, head in heads.items():
            source, cached = _source(*head), self._parsed.get(collection_id)
            if cached is None or cached[0] != source:
                changed[collection_id] = source
        if not changed:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for collection_id in changed:
                pipe.hgetall(keys.collection_partitions(collection_id))
            partitions = await pipe.execute()
        for (collection_id, source), listed in zip(changed.items(), partitions):
            self._parsed[collection_id] = (source, _collection_from_hash(*heads[collection_id], listed))

    async def add_partition(self, collection_id: int, collection_name: str, partition: Partition, limit: int) -> None:
        async with self._durable() as pipe:
            await self._add_partition(
                keys=[keys.collection(collection_id), keys.collection_partitions(collection_id)],
                args=[partition.name, _partition_json(partition), limit, keys.COLLECTION_VERSION],
                client=pipe,
            )
            (added,) = await pipe.execute()
        if added == -1:
            raise QuiverError(ErrorCode.COLLECTION_NOT_FOUND, f"collection {collection_name!r} not found")
        if added == 0:
            raise QuiverError(
                ErrorCode.PARTITION_EXISTS, f"partition {partition.name!r} already exists in {collection_name!r}"
            )
        if added == -2:
            raise QuiverError(
                ErrorCode.PARTITION_NAME_INVALID,
                f"collection {collection_name!r} already has the maximum of {limit} partitions",
            )

    async def remove_partition(self, collection_id: int, partition: Partition, segments: list[Segment]) -> None:
        """Removes the partition and the records of its segments."""
        async with self._durable() as pipe:
            pipe.hdel(keys.collection_partitions(collection_id), partition.name)
            pipe.hincrby(keys.collection(collection_id), keys.COLLECTION_VERSION, 1)
            self._remove_segments(pipe, segments)
            await pipe.execute()

    async def _read_collection(self, pipe: Pipeline, collection_id: int) -> Collection:
        """The collection's own hash (no index specs or partitions), read inside a transaction."""
        fields = await pipe.hgetall(keys.collection(collection_id))
        if not fields:
            raise QuiverError(ErrorCode.COLLECTION_NOT_FOUND, f"collection {collection_id} not found")
        return _collection_from_hash(fields, [], {})

    async def claim_id_mode(self, collection_id: int, mode: IdMode) -> IdMode:
        """Sets the id mode if none is set yet; returns the mode now in force."""
        key = keys.collection(collection_id)
        if not await self._redis.exists(key):
            raise QuiverError(ErrorCode.COLLECTION_NOT_FOUND, f"collection {collection_id} not found")
        async with self._durable() as pipe:
            pipe.hsetnx(key, keys.COLLECTION_ID_MODE, int(mode))
            pipe.hget(key, keys.COLLECTION_ID_MODE)
            _, in_force = await pipe.execute()
        return IdMode(int(in_force))

    # -- segments -----------------------------------------------------------------------------

    async def add_segment(self, segment: Segment) -> None:
        async with self._durable() as pipe:
            pipe.hset(keys.segment(segment.id), mapping=_segment_hash(segment))
            pipe.sadd(keys.collection_segments(segment.collection_id), segment.id)
            pipe.hincrby(keys.collection(segment.collection_id), keys.COLLECTION_VERSION, 1)
            await pipe.execute()

    async def replace_segments(self, removed: list[Segment], added: Segment) -> None:
        """A compaction's outcome: the new segment's record in place of its sources'."""
        async with self._durable() as pipe:
            pipe.hset(keys.segment(added.id), mapping=_segment_hash(added))
            pipe.sadd(keys.collection_segments(added.collection_id), added.id)
            self._remove_segments(pipe, removed)
            pipe.hincrby(keys.collection(added.collection_id), keys.COLLECTION_VERSION, 1)
            await pipe.execute()

    async def remove_segments(self, segments: list[Segment]) -> None:
        """Forgets segments (gone from their node)."""
        async with self._durable() as pipe:
            self._remove_segments(pipe, segments)
            for collection_id in {s.collection_id for s in segments}:
                pipe.hincrby(keys.collection(collection_id), keys.COLLECTION_VERSION, 1)
            await pipe.execute()

    def _remove_segments(self, pipe: Pipeline, segments: list[Segment]) -> None:
        for segment in segments:
            pipe.srem(keys.collection_segments(segment.collection_id), segment.id)
            pipe.delete(keys.segment(segment.id))
        self._collect_later(pipe, _segment_objects(segments))

    # -- objects to delete from the object store ----------------------------------------------

    def _collect_later(self, pipe: Pipeline, prefixes: list[str]) -> None:
        """Schedules the objects under `prefixes` for deletion, after a grace period in which a
        search or build that started on them can still read them."""
        if prefixes:
            due = now_ms() + self.garbage_grace_ms
            pipe.zadd(keys.GARBAGE, {prefix: due for prefix in prefixes})

    async def collect_later(self, prefixes: list[str]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            self._collect_later(pipe, prefixes)
            await pipe.execute()

    async def due_garbage(self, limit: int) -> list[str]:
        return list(await self._redis.zrangebyscore(keys.GARBAGE, 0, now_ms(), start=0, num=limit))

    async def garbage_collected(self, prefixes: list[str]) -> None:
        if prefixes:
            await self._redis.zrem(keys.GARBAGE, *prefixes)

    async def get_segment(self, segment_id: int) -> Segment | None:
        fields = await self._redis.hgetall(keys.segment(segment_id))
        return _segment_from_hash(segment_id, fields) if fields else None

    async def collection_segments(self, collection_id: int) -> list[Segment]:
        ids = sorted(int(i) for i in await self._redis.smembers(keys.collection_segments(collection_id)))
        return await self._segments(ids)

    async def segments(self, ids: list[int]) -> list[Segment]:
        """The records of these segments (those that exist)."""
        return await self._segments(ids)

    async def segments_of(self, collection_ids: list[int]) -> list[Segment]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for collection_id in collection_ids:
                pipe.smembers(keys.collection_segments(collection_id))
            members = await pipe.execute()
        return await self._segments(sorted(int(i) for ids in members for i in ids))

    async def _segments(self, ids: list[int]) -> list[Segment]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for segment_id in ids:
                pipe.hgetall(keys.segment(segment_id))
            rows = await pipe.execute()
        return [_segment_from_hash(i, row) for i, row in zip(ids, rows) if row]

    async def update_segments(self, node_id: str, segments: list[Segment]) -> list[int]:
        """Records the statistics a node reports of its segments. Returns the ids the catalogue
        does not place on that node."""
        if not segments:
            return []
        args: list[str | int] = [node_id]
        for s in segments:
            args += [s.id, int(s.state), s.row_count, s.deleted_count, s.data_bytes, int(s.resident)]
        unknown = await self._update_segments(keys=[keys.segment(s.id) for s in segments], args=args)
        return [int(i) for i in unknown]

    # -- channels -----------------------------------------------------------------------------

    async def channels(self, collection_ids: list[int]) -> list[Channel]:
        """The channels of these collections (those that exist), by collection and shard."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for collection_id in collection_ids:
                pipe.hgetall(keys.collection_channels(collection_id))
            rows = await pipe.execute()
        return [
            _channel_from_json(collection_id, int(shard), value)
            for collection_id, row in zip(collection_ids, rows)
            for shard, value in sorted(row.items(), key=lambda item: int(item[0]))
        ]

    async def all_channels(self) -> list[Channel]:
        return await self.channels([int(i) for i in await self._redis.hvals(keys.COLLECTION_NAMES)])

    async def record_checkpoint(self, channel: Channel) -> bool:
        """Moves a channel's checkpoint on, if the reporting node still consumes it."""
        async with self._durable() as pipe:
            await self._record_checkpoint(
                keys=[keys.collection_channels(channel.collection_id)],
                args=[str(channel.shard), channel.node_id, channel.checkpoint],
                client=pipe,
            )
            (moved,) = await pipe.execute()
        return bool(moved)

    async def set_standby(self, channel: Channel, standby: str) -> bool:
        """Names the node that prepares to take the channel over ("" for none), unless the
        channel moved or another standby was named meanwhile."""
        channels_key = keys.collection_channels(channel.collection_id)

        async def body(pipe: Pipeline) -> bool:
            current = await pipe.hget(channels_key, str(channel.shard))
            if current is None:
                return False
            recorded = _channel_from_json(channel.collection_id, channel.shard, current)
            if (recorded.node_id, recorded.standby) != (channel.node_id, channel.standby):
                return False
            pipe.multi()
            pipe.hset(channels_key, str(channel.shard), _channel_json(replace(recorded, standby=standby)))
            await pipe.execute()
            return True

        return await self._transaction([channels_key], body)

    async def move_channel(self, channel: Channel, node_id: str) -> bool:
        """Hands a channel (and the segments of its rows) to another node, unless it moved
        meanwhile. Growing segments are forgotten: the new node replays their rows from the log."""
        channels_key = keys.collection_channels(channel.collection_id)
        segments = [s for s in await self.collection_segments(channel.collection_id) if s.shard == channel.shard]

        async def body(pipe: Pipeline) -> bool:
            current = await pipe.hget(channels_key, str(channel.shard))
            if current is None or _channel_from_json(channel.collection_id, channel.shard, current).node_id != channel.node_id:
                return False
            moved = replace(_channel_from_json(channel.collection_id, channel.shard, current), node_id=node_id, standby="")
            pipe.multi()
            pipe.hset(channels_key, str(channel.shard), _channel_json(moved))
            for segment in segments:
                if segment.state is SegmentState.GROWING:
                    pipe.srem(keys.collection_segments(segment.collection_id), segment.id)
                    pipe.delete(keys.segment(segment.id))
                else:
                    pipe.hset(keys.segment(segment.id), "node_id", node_id)
            pipe.hincrby(keys.collection(channel.collection_id), keys.COLLECTION_VERSION, 1)
            await pipe.execute()
            return True

        return await self._transaction([channels_key], body)

    # -- indexes ------------------------------------------------------------------------------

    async def put_index(self, collection_id: int, spec: IndexSpec) -> None:
        info = json_format.MessageToJson(spec.to_proto(), preserving_proto_field_name=True)
        async with self._durable() as pipe:
            pipe.hset(keys.collection_indexes(collection_id), spec.field_name, info)
            pipe.hincrby(keys.collection(collection_id), keys.COLLECTION_VERSION, 1)
            await pipe.execute()

    async def drop_index(self, collection_id: int, spec: IndexSpec, segment_ids: list[int]) -> None:
        """Removes the index and every segment's build state of it (and, later, its files)."""
        async with self._durable() as pipe:
            pipe.hdel(keys.collection_indexes(collection_id), spec.field_name)
            pipe.hincrby(keys.collection(collection_id), keys.COLLECTION_VERSION, 1)
            for segment_id in segment_ids:
                pipe.hdel(keys.segment(segment_id), "index_version", "index_state", "index_reason")
            self._collect_later(pipe, [bucket.index_file(collection_id, i, spec.version) for i in segment_ids])
            await pipe.execute()

    async def queue_builds(self, segment_ids: list[int], index_version: int) -> list[int]:
        """Puts a build task on the stream for each segment not yet queued for this version."""
        if not segment_ids:
            return []
        queued = await self._queue_builds(
            keys=[keys.INDEX_TASKS, *(keys.segment(i) for i in segment_ids)],
            args=[index_version, int(IndexState.QUEUED), *segment_ids],
        )
        return [int(i) for i in queued]

    async def set_build_state(
        self, segment_id: int, index_version: int, state: IndexState, reason: str = ""
    ) -> bool:
        """False when the segment's build is no longer that of this index version."""
        done = await self._set_build_state(
            keys=[keys.segment(segment_id)], args=[index_version, int(state), reason]
        )
        return bool(done)

    # -- runtime settings ---------------------------------------------------------------------

    async def runtime_config(self) -> RuntimeConfig:
        stored = await self._redis.get(keys.RUNTIME_CONFIG)
        if stored is None:
            return RuntimeConfig()
        return RuntimeConfig.from_proto(json_format.Parse(stored, pb.RuntimeConfig()))

    async def put_runtime_config(self, config: RuntimeConfig) -> RuntimeConfig:
        """Stores the settings with the next version number."""

        async def body(pipe: Pipeline) -> RuntimeConfig:
            stored = await pipe.get(keys.RUNTIME_CONFIG)
            previous = json_format.Parse(stored, pb.RuntimeConfig()).version if stored else 0
            versioned = replace(config, version=previous + 1)
            pipe.multi()
            pipe.set(keys.RUNTIME_CONFIG, json_format.MessageToJson(versioned.to_proto()))
            await pipe.execute()
            return versioned

        return await self._transaction([keys.RUNTIME_CONFIG], body)

    # -- users --------------------------------------------------------------------------------

    async def ensure_user(self, user: str, password_hash: str) -> bool:
        """Creates the user unless it exists; True if it was created."""
        async with self._durable() as pipe:
            pipe.hsetnx(keys.USERS, user, password_hash)
            (created,) = await pipe.execute()
        return bool(created)

    async def password_hash(self, user: str) -> str | None:
        return await self._redis.hget(keys.USERS, user)

    async def api_key_user(self, digest: str) -> str | None:
        return await self._redis.hget(keys.API_KEYS, digest)

    async def add_api_key(self, digest: str, user: str) -> None:
        async with self._durable() as pipe:
            pipe.hset(keys.API_KEYS, digest, user)
            await pipe.execute()

    async def replace_password_hash(self, user: str, expected: str, new: str) -> bool:
        """Sets the user's hash if it is still `expected` (no concurrent change or drop)."""

        async def body(pipe: Pipeline) -> bool:
            if await pipe.hget(keys.USERS, user) != expected:
                return False
            pipe.multi()
            pipe.hset(keys.USERS, user, new)
            await pipe.execute()
            return True

        return await self._transaction([keys.USERS], body)

    async def drop_user(self, user: str) -> bool:
        """Removes the user and the API keys acting as it; False if there was no such user."""

        async def body(pipe: Pipeline) -> bool:
            if not await pipe.hexists(keys.USERS, user):
                return False
            owned = [digest for digest, owner in (await pipe.hgetall(keys.API_KEYS)).items() if owner == user]
            pipe.multi()
            pipe.hdel(keys.USERS, user)
            if owned:
                pipe.hdel(keys.API_KEYS, *owned)
            await pipe.execute()
            return True

        return await self._transaction([keys.USERS, keys.API_KEYS], body)

    async def users(self) -> list[str]:
        return sorted(await self._redis.hkeys(keys.USERS))

    # -- nodes --------------------------------------------------------------------------------

    async def register_node(self, node: Node, ttl_s: float) -> None:
        info = json_format.MessageToJson(node.to_proto(), preserving_proto_field_name=True)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.NODES, node.node_id, info)
            pipe.set(keys.node_alive(node.node_id), 1, px=int(ttl_s * 1000))
            pipe.hset(keys.NODES_SEEN, node.node_id, now_ms())
            await pipe.execute()

    async def heartbeat(self, node_id: str, ttl_s: float) -> bool:
        """Refreshes a registered node's liveness; False if the node must register again."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.node_alive(node_id), 1, px=int(ttl_s * 1000), xx=True)
            pipe.hset(keys.NODES_SEEN, node_id, now_ms())
            refreshed, _ = await pipe.execute()
        return bool(refreshed)

    async def presume_alive(self, ttl_s: float) -> list[str]:
        """On taking over, the nodes that were alive when the last coordinator stopped answering
        (seen within one TTL of the last heartbeat that arrived) are alive for one more TTL:
        they could not heartbeat with no coordinator, and need not look dead to the clients
        while they register again. A node that really died expires after that TTL."""
        seen = {node_id: int(ms) for node_id, ms in (await self._redis.hgetall(keys.NODES_SEEN)).items()}
        if not seen:
            return []
        cutoff = max(seen.values()) - int(ttl_s * 1000)
        revived = sorted(node_id for node_id, ms in seen.items() if ms >= cutoff)
        async with self._redis.pipeline(transaction=False) as pipe:
            for node_id in revived:
                pipe.set(keys.node_alive(node_id), 1, px=int(ttl_s * 1000))
            await pipe.execute()
        return revived

    async def set_draining(self, node_id: str, draining: bool) -> None:
        async with self._durable() as pipe:
            if draining:
                pipe.sadd(keys.DRAINING, node_id)
            else:
                pipe.srem(keys.DRAINING, node_id)
            await pipe.execute()

    async def draining(self) -> set[str]:
        return set(await self._redis.smembers(keys.DRAINING))

    async def nodes(self) -> list[Node]:
        rows = await self._redis.hgetall(keys.NODES)
        ids = sorted(rows)
        alive = await self._redis.mget([keys.node_alive(i) for i in ids]) if ids else []
        nodes = []
        for node_id, flag in zip(ids, alive):
            node = Node.from_proto(json_format.Parse(rows[node_id], pb.NodeInfo()))
            nodes.append(replace(node, alive=flag is not None))
        return nodes


def _collection_json(collection: Collection) -> str:
    info = collection.to_proto()
    info.ClearField("id_mode")
    info.ClearField("version")
    info.ClearField("aliases")  # kept in the aliases hash
    info.ClearField("indexes")  # kept in the collection's indexes hash
    info.ClearField("partitions")  # kept in the collection's partitions hash
    return json_format.MessageToJson(info, preserving_proto_field_name=True)


def _partition_json(partition: Partition) -> str:
    return orjson.dumps({"id": partition.id, "created_ms": partition.created_ms}).decode()


def _source(fields: dict[str, str], specs: list[str]) -> tuple[str | None, ...]:
    """What a parsed collection came from, but its partitions (their changes bump the version)."""
    names = (keys.COLLECTION_META, keys.COLLECTION_ID_MODE, keys.COLLECTION_VERSION)
    return (*(fields.get(name) for name in names), *specs)


def _collection_from_hash(fields: dict[str, str], specs: list[str], partitions: dict[str, str]) -> Collection:
    info = json_format.Parse(fields[keys.COLLECTION_META], pb.CollectionInfo())
    info.id_mode = int(fields.get(keys.COLLECTION_ID_MODE, 0))
    info.version = int(fields.get(keys.COLLECTION_VERSION, 0))
    for spec in specs:
        info.indexes.append(json_format.Parse(spec, pb.IndexSpec()))
    collection = Collection.from_proto(info)
    listed = (Partition(name=name, **orjson.loads(value)) for name, value in partitions.items())
    return collection.with_changes(partitions=tuple(sorted(listed, key=lambda p: p.id)))


def _segment_objects(segments: list[Segment]) -> list[str]:
    """The object-store prefixes of segments: their files and their indexes."""
    return [
        prefix
        for s in segments
        for prefix in (bucket.segment_prefix(s.collection_id, s.id), bucket.index_prefix(s.collection_id, s.id))
    ]


def _channel_json(channel: Channel) -> str:
    return orjson.dumps(
        {"node_id": channel.node_id, "checkpoint": channel.checkpoint, "standby": channel.standby}
    ).decode()


def _channel_from_json(collection_id: int, shard: int, value: str) -> Channel:
    fields = orjson.loads(value)
    return Channel(collection_id, shard, fields["node_id"], int(fields["checkpoint"]), fields.get("standby", ""))


def _segment_hash(segment: Segment) -> dict[str, str | int]:
    return {
        "collection_id": segment.collection_id,
        "partition_id": segment.partition_id,
        "shard": segment.shard,
        "node_id": segment.node_id,
        "state": int(segment.state),
        "row_count": segment.row_count,
        "deleted_count": segment.deleted_count,
        "data_bytes": segment.data_bytes,
    }


def _segment_from_hash(segment_id: int, fields: dict[str, str]) -> Segment:
    return Segment(
        id=segment_id,
        collection_id=int(fields["collection_id"]),
        partition_id=int(fields["partition_id"]),
        node_id=fields["node_id"],
        state=SegmentState(int(fields["state"])),
        row_count=int(fields["row_count"]),
        deleted_count=int(fields["deleted_count"]),
        data_bytes=int(fields["data_bytes"]),
        index_version=int(fields.get("index_version", 0)),
        index_state=IndexState(int(fields.get("index_state", 0))),
        index_reason=fields.get("index_reason", ""),
        resident=fields.get("resident") == "1",
        shard=int(fields.get("shard", 0)),
    )

