"""Every Redis operation of the ingest nodes (the key formats are in quiver/keys.py).

Changes that must check something first (a sync already queued, a unique_id already taken,
an index deleted under a running sync) are Lua scripts or WATCH transactions, so that any
number of ingest nodes can serve the same objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError, WatchError

from ingestnode.models import (
    Configuration,
    Directory,
    DirectoryFile,
    Index,
    IndexedFile,
    IndexState,
    StoredFile,
    from_json,
    to_json,
)
from quiver import keys
from quiver.leases import Leases

T = TypeVar("T")
LIST_BATCH = 200
_LISTINGS: dict[type, str] = {
    Directory: keys.MANAGED_DIRECTORIES,
    StoredFile: keys.MANAGED_FILES,
    Configuration: keys.MANAGED_CONFIGURATIONS,
    Index: keys.MANAGED_INDEXES,
}

# Queues a sync of index KEYS[1] unless one is queued or running: 1 queued, 0 busy, -1 no index.
_REQUEST_SYNC = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'job_id', ARGV[2], 'state', 'queued', 'cancel', '0', 'requested_ms', ARGV[3])
redis.call('XADD', KEYS[3], '*', 'index_id', ARGV[1], 'job_id', ARGV[2])
return 1
"""
# Cancels index KEYS[1]'s sync: 1 dropped while queued, 2 asked to stop while running, 0 none.
_CANCEL_SYNC = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
if state == 'queued' then redis.call('DEL', KEYS[1]) return 1 end
redis.call('HSET', KEYS[1], 'cancel', '1')
return 2
"""
# A worker starts job ARGV[1] (run ARGV[2]) if it is still the index's queued or running job.
_START_JOB = """
if redis.call('HGET', KEYS[1], 'job_id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'running', 'run_id', ARGV[2])
return 1
"""
# Ends job ARGV[1] if it is still the index's job.
_END_JOB = """
if redis.call('HGET', KEYS[1], 'job_id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# SET KEYS[2] ARGV[1] only while the index KEYS[1] exists (a sync never revives a deleted one).
_SET_IF_INDEX = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
# HSET KEYS[2] ARGV[1] ARGV[2] (or HDEL when ARGV[2] is empty) only while index KEYS[1] exists.
_HSET_IF_INDEX = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
"""
# Soft-deletes directory KEYS[1] (new record ARGV[1]) unless an index is built over it.
_DELETE_DIRECTORY = """
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


class Busy(Exception):
    """A check-and-set found the object in the way (a sync running, a directory in use)."""


@dataclass(frozen=True)
class Job:
    """A queued or running sync, as the stream delivered it."""

    message_id: str
    index_id: str
    job_id: str


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str  # queued or running
    cancel: bool


class ManagedStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._request_sync = redis.register_script(_REQUEST_SYNC)
        self._cancel_sync = redis.register_script(_CANCEL_SYNC)
        self._start_job = redis.register_script(_START_JOB)
        self._end_job = redis.register_script(_END_JOB)
        self._set_if_index = redis.register_script(_SET_IF_INDEX)
        self._hset_if_index = redis.register_script(_HSET_IF_INDEX)
        self._delete_directory = redis.register_script(_DELETE_DIRECTORY)
        self._leases = Leases(redis)

    async def ping(self) -> None:
        await self._redis.ping()

    # -- records and listings --------------------------------------------------------------

    async def get(self, cls: type[T], object_id: str) -> T | None:
        raw = await self._redis.get(keys.managed_record(object_id))
        return None if raw is None else from_json(cls, raw)

    async def put(self, record: Any) -> None:
        await self._redis.set(keys.managed_record(record.id), to_json(record))

    async def page(self, cls: type[T], size: int, token: str, keep: Callable[[T], bool]) -> tuple[list[T], str]:
        """Up to `size` directories, files, configurations or indexes after the id `token` that
        `keep` accepts, and the token of the next page ("" when this is the last)."""
        return await self._page(_LISTINGS[cls], cls, size, token, keep)

    async def directory_page(
        self, directory_id: str, size: int, token: str, keep: Callable[[DirectoryFile], bool]
    ) -> tuple[list[DirectoryFile], str]:
        """Like `page`, over the files of one directory."""
        return await self._page(keys.managed_directory_files(directory_id), DirectoryFile, size, token, keep)

    async def _page(
        self, listing: str, cls: type[T], size: int, token: str, keep: Callable[[T], bool]
    ) -> tuple[list[T], str]:
        found: list[T] = []
        cursor = token
        while len(found) <= size:  # one more than a page says whether another page follows
            ids = await self._redis.zrangebylex(
                listing, f"({cursor}" if cursor else "-", "+", start=0, num=LIST_BATCH
            )
            if not ids:
                break
            raws = await self._redis.mget([keys.managed_record(i) for i in ids])
            found += [r for r in (from_json(cls, raw) for raw in raws if raw is not None) if keep(r)]
            cursor = ids[-1]
        page = found[:size]
        return page, (page[-1].id if len(found) > size else "")  # type: ignore[attr-defined]

    async def _transaction(self, watch: list[str], body: Callable[[Pipeline], Awaitable[T]]) -> T:
        """Runs `body` under WATCH until no watched key changed underneath it."""
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(*watch)
                    return await body(pipe)
                except WatchError:
                    continue

    # -- directories -----------------------------------------------------------------------

    async def add_directory(self, directory: Directory) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.managed_record(directory.id), to_json(directory))
            pipe.zadd(keys.MANAGED_DIRECTORIES, {directory.id: 0})
            await pipe.execute()

    async def soft_delete_directory(self, deleted: Directory) -> None:
        """Raises Busy while an index is built over the directory."""
        done = await self._delete_directory(
            keys=[keys.managed_record(deleted.id), keys.managed_directory_indexes(deleted.id)],
            args=[to_json(deleted)],
        )
        if not done:
            raise Busy(deleted.id)

    async def directory_index_ids(self, directory_id: str) -> set[str]:
        return set(await self._redis.smembers(keys.managed_directory_indexes(directory_id)))

    # -- project files ---------------------------------------------------------------------

    async def hold_blob(self, digest: str) -> None:
        """Counts one more file holding the bytes: done before the bytes are filed, so that a
        delete of the last other holder never removes them under the new one."""
        await self._redis.hincrby(keys.MANAGED_BLOB_REFS, digest, 1)

    async def add_file(self, stored: StoredFile) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.managed_record(stored.id), to_json(stored))
            pipe.zadd(keys.MANAGED_FILES, {stored.id: 0})
            await pipe.execute()

    async def remove_file(self, stored: StoredFile) -> bool:
        """Forgets the file; True when no file holds its bytes any more (delete the blob)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.managed_record(stored.id))
            pipe.zrem(keys.MANAGED_FILES, stored.id)
            pipe.hincrby(keys.MANAGED_BLOB_REFS, stored.content_hash, -1)
            *_, refs = await pipe.execute()
        if refs <= 0:
            await self._redis.hdel(keys.MANAGED_BLOB_REFS, stored.content_hash)
            return True
        return False

    # -- directory files -------------------------------------------------------------------

    async def put_directory_file(
        self, directory_id: str, unique_id: str, make: Callable[[DirectoryFile | None], DirectoryFile]
    ) -> tuple[DirectoryFile, DirectoryFile | None]:
        """Stores `make(live file holding unique_id, or None)` as the live holder of unique_id;
        returns it and the file it replaced."""
        unique_ids = keys.managed_directory_unique_ids(directory_id)

        async def body(pipe: Pipeline) -> tuple[DirectoryFile, DirectoryFile | None]:
            current_id = await pipe.hget(unique_ids, unique_id)
            raw = await pipe.get(keys.managed_record(current_id)) if current_id else None
            previous = from_json(DirectoryFile, raw) if raw is not None else None
            record = make(previous)
            pipe.multi()
            pipe.set(keys.managed_record(record.id), to_json(record))
            pipe.zadd(keys.managed_directory_files(directory_id), {record.id: 0})
            pipe.hset(unique_ids, unique_id, record.id)
            await pipe.execute()
            return record, previous

        return await self._transaction([unique_ids], body)

    async def soft_delete_directory_file(self, deleted: DirectoryFile) -> None:
        unique_ids = keys.managed_directory_unique_ids(deleted.directory_id)

        async def body(pipe: Pipeline) -> None:
            holder = await pipe.hget(unique_ids, deleted.unique_id)
            pipe.multi()
            pipe.set(keys.managed_record(deleted.id), to_json(deleted))
            if holder == deleted.id:
                pipe.hdel(unique_ids, deleted.unique_id)
            await pipe.execute()

        await self._transaction([unique_ids], body)

    async def live_directory_files(self, directory_id: str) -> list[DirectoryFile]:
        """Every live file of the directory, in creation order."""
        files: list[DirectoryFile] = []
        token = ""
        while True:
            page, token = await self.directory_page(directory_id, LIST_BATCH, token, lambda f: not f.deleted_ms)
            files += page
            if not token:
                return files

    # -- configurations --------------------------------------------------------------------

    async def upsert_configuration(
        self, name_key: str, make: Callable[[Configuration | None], Configuration]
    ) -> Configuration:
        """Stores `make(configuration already named so, or None)` under that name."""

        async def body(pipe: Pipeline) -> Configuration:
            current_id = await pipe.hget(keys.MANAGED_CONFIGURATION_NAMES, name_key)
            raw = await pipe.get(keys.managed_record(current_id)) if current_id else None
            record = make(from_json(Configuration, raw) if raw is not None else None)
            pipe.multi()
            pipe.set(keys.managed_record(record.id), to_json(record))
            pipe.zadd(keys.MANAGED_CONFIGURATIONS, {record.id: 0})
            pipe.hset(keys.MANAGED_CONFIGURATION_NAMES, name_key, record.id)
            await pipe.execute()
            return record

        return await self._transaction([keys.MANAGED_CONFIGURATION_NAMES], body)

    async def rename_configuration(self, old_key: str, new_key: str, record: Configuration) -> None:
        """Stores an updated configuration; raises Busy if another one has the new name."""

        async def body(pipe: Pipeline) -> None:
            holder = await pipe.hget(keys.MANAGED_CONFIGURATION_NAMES, new_key)
            if holder not in (None, record.id):
                raise Busy(holder)
            pipe.multi()
            pipe.set(keys.managed_record(record.id), to_json(record))
            pipe.hdel(keys.MANAGED_CONFIGURATION_NAMES, old_key)
            pipe.hset(keys.MANAGED_CONFIGURATION_NAMES, new_key, record.id)
            await pipe.execute()

        await self._transaction([keys.MANAGED_CONFIGURATION_NAMES], body)

    async def delete_configuration(self, name_key: str, config_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.managed_record(config_id))
            pipe.zrem(keys.MANAGED_CONFIGURATIONS, config_id)
            pipe.hdel(keys.MANAGED_CONFIGURATION_NAMES, name_key)
            await pipe.execute()

    # -- indexes ---------------------------------------------------------------------------

    async def add_index(self, index: Index, state: IndexState) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.managed_record(index.id), to_json(index))
            pipe.set(keys.managed_index_state(index.id), to_json(state))
            pipe.zadd(keys.MANAGED_INDEXES, {index.id: 0})
            pipe.hset(keys.MANAGED_EXPORT_CONFIGS, index.export_config_id, index.id)
            pipe.sadd(keys.managed_directory_indexes(index.source_directory_id), index.id)
            await pipe.execute()

    async def remove_index(self, index: Index) -> None:
        """Forgets the index; a sync still running notices and stops."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                keys.managed_record(index.id),
                keys.managed_index_state(index.id),
                keys.managed_index_files(index.id),
                keys.managed_index_job(index.id),
            )
            pipe.zrem(keys.MANAGED_INDEXES, index.id)
            pipe.zrem(keys.MANAGED_SYNC_SCHEDULE, index.id)
            pipe.hdel(keys.MANAGED_EXPORT_CONFIGS, index.export_config_id)
            pipe.srem(keys.managed_directory_indexes(index.source_directory_id), index.id)
            await pipe.execute()

    async def index_for_export_config(self, export_config_id: str) -> str | None:
        return await self._redis.hget(keys.MANAGED_EXPORT_CONFIGS, export_config_id)

    async def index_state(self, index_id: str) -> IndexState:
        raw = await self._redis.get(keys.managed_index_state(index_id))
        return IndexState() if raw is None else from_json(IndexState, raw)

    async def put_index_state(self, index_id: str, state: IndexState) -> bool:
        """False when the index is gone (deleted while its sync ran)."""
        return bool(
            await self._set_if_index(
                keys=[keys.managed_record(index_id), keys.managed_index_state(index_id)],
                args=[to_json(state)],
            )
        )

    async def indexed_files(self, index_id: str) -> dict[str, IndexedFile]:
        raw = await self._redis.hgetall(keys.managed_index_files(index_id))
        return {file_id: from_json(IndexedFile, value) for file_id, value in raw.items()}

    async def put_indexed_file(self, index_id: str, file_id: str, held: IndexedFile | None) -> bool:
        """Records what the index holds of a file (None: nothing); False when the index is gone."""
        return bool(
            await self._hset_if_index(
                keys=[keys.managed_record(index_id), keys.managed_index_files(index_id)],
                args=[file_id, to_json(held) if held is not None else ""],
            )
        )

    # -- sync jobs -------------------------------------------------------------------------

    async def request_sync(self, index_id: str, job_id: str, now_ms: int) -> None:
        """Queues a sync; raises Busy when one is queued or running, KeyError without index."""
        result = await self._request_sync(
            keys=[keys.managed_record(index_id), keys.managed_index_job(index_id), keys.MANAGED_SYNC_QUEUE],
            args=[index_id, job_id, now_ms],
        )
        if result == -1:
            raise KeyError(index_id)
        if result == 0:
            raise Busy(index_id)

    async def cancel_sync(self, index_id: str) -> bool:
        """Drops a queued sync (True) or asks a running one to stop (False); raises Busy when
        there is none."""
        result = await self._cancel_sync(keys=[keys.managed_index_job(index_id)])
        if not result:
            raise Busy(index_id)
        return result == 1

    async def job_state(self, index_id: str) -> JobState | None:
        raw = await self._redis.hgetall(keys.managed_index_job(index_id))
        if not raw:
            return None
        return JobState(raw["job_id"], raw.get("state", "queued"), raw.get("cancel") == "1")

    async def job_states(self, index_ids: list[str]) -> list[JobState | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for index_id in index_ids:
                pipe.hgetall(keys.managed_index_job(index_id))
            raws = await pipe.execute()
        return [
            JobState(r["job_id"], r.get("state", "queued"), r.get("cancel") == "1") if r else None
            for r in raws
        ]

    async def start_job(self, job: Job, run_id: str) -> bool:
        return bool(await self._start_job(keys=[keys.managed_index_job(job.index_id)], args=[job.job_id, run_id]))

    async def end_job(self, job: Job) -> None:
        await self._end_job(keys=[keys.managed_index_job(job.index_id)], args=[job.job_id])

    async def join_sync_group(self) -> None:
        try:  # from the start of the stream: jobs queued before any ingest node ran count
            await self._redis.xgroup_create(
                keys.MANAGED_SYNC_QUEUE, keys.MANAGED_SYNC_GROUP, id="0", mkstream=True
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def next_job(self, consumer: str, claim_idle_ms: int, block_ms: int) -> Job | None:
        """A job whose node stopped keeping it claimed first, else a new one."""
        claimed = await self._redis.xautoclaim(
            keys.MANAGED_SYNC_QUEUE, keys.MANAGED_SYNC_GROUP, consumer,
            min_idle_time=claim_idle_ms, start_id="0-0", count=1,
        )
        messages = claimed[1]
        if not messages:
            read = await self._redis.xreadgroup(
                keys.MANAGED_SYNC_GROUP, consumer, {keys.MANAGED_SYNC_QUEUE: ">"}, count=1, block=block_ms
            )
            messages = read[0][1] if read else []
        for message_id, fields in messages:
            if fields:  # an entry deleted from the stream comes back empty
                return Job(message_id, fields["index_id"], fields["job_id"])
            await self.ack_job(message_id)
        return None

    async def keep_job_claimed(self, consumer: str, message_id: str) -> None:
        await self._redis.xclaim(
            keys.MANAGED_SYNC_QUEUE, keys.MANAGED_SYNC_GROUP, consumer, 0, [message_id], justid=True
        )

    async def ack_job(self, message_id: str) -> None:
        """Done with a job: acknowledged, and deleted so that the stream does not grow forever."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.MANAGED_SYNC_QUEUE, keys.MANAGED_SYNC_GROUP, message_id)
            pipe.xdel(keys.MANAGED_SYNC_QUEUE, message_id)
            await pipe.execute()

    # -- the per-index sync lease ----------------------------------------------------------

    async def take_lease(self, index_id: str, holder: str, ttl_ms: int) -> bool:
        return await self._leases.take(keys.managed_index_lease(index_id), holder, ttl_ms)

    async def keep_lease(self, index_id: str, holder: str, ttl_ms: int) -> bool:
        return await self._leases.renew(keys.managed_index_lease(index_id), holder, ttl_ms)

    async def release_lease(self, index_id: str, holder: str) -> None:
        await self._leases.release(keys.managed_index_lease(index_id), holder)

    # -- scheduled syncs -------------------------------------------------------------------

    async def schedule_sync(self, index_id: str, due_ms: int) -> None:
        await self._redis.zadd(keys.MANAGED_SYNC_SCHEDULE, {index_id: due_ms})

    async def due_syncs(self, now_ms: int) -> list[str]:
        return list(await self._redis.zrangebyscore(keys.MANAGED_SYNC_SCHEDULE, "-inf", now_ms, start=0, num=100))

    async def claim_scheduled(self, index_id: str, due_ms_at_most: int) -> bool:
        """Takes a due entry off the schedule; False if another node took it (or it moved)."""
        async def body(pipe: Pipeline) -> bool:
            due = await pipe.zscore(keys.MANAGED_SYNC_SCHEDULE, index_id)
            if due is None or due > due_ms_at_most:
                return False
            pipe.multi()
            pipe.zrem(keys.MANAGED_SYNC_SCHEDULE, index_id)
            await pipe.execute()
            return True

        return await self._transaction([keys.MANAGED_SYNC_SCHEDULE], body)

    # -- attachments -----------------------------------------------------------------------

    async def put_attachments(self, source_id: str, kinds: tuple[str, ...], entries: dict[str, dict[str, int]]) -> None:
        """Replaces the file's attachments of these kinds (their names start with "<kind>/")."""
        key = keys.managed_attachments(source_id)
        stale = [n for n in await self._redis.hkeys(key) if n.split("/", 1)[0] in kinds]
        async with self._redis.pipeline(transaction=True) as pipe:
            if stale:
                pipe.hdel(key, *stale)
            if entries:
                pipe.hset(key, mapping={name: to_json(entry) for name, entry in entries.items()})
            await pipe.execute()

    async def attachments(self, source_id: str) -> dict[str, dict[str, int]]:
        raw = await self._redis.hgetall(keys.managed_attachments(source_id))
        return {name: orjson.loads(value) for name, value in sorted(raw.items())}
