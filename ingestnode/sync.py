"""Index syncs: the ingest nodes' worker loop and one sync run.

Jobs come from a Redis Stream read by the consumer group of ingest nodes (one job per index
at a time: the service refuses a second). The node that takes a job also takes the index's
lease and keeps both while it runs, so no two runs of an index ever overlap; a job whose node
died goes idle, and after `claim_timeout_s` another node takes it and runs it again.

A run is incremental and resumable, file by file:

1. syncing: every live file of the source directory whose content (or parse settings)
   changed is parsed and chunked; its parsed output (pages and chunks, JSON) replaces the
   previous one in the index's output directory, with page screenshots and text items for
   PDFs when the index stores attachments. Files that left the directory leave the index.
2. exporting (vector_target DEFAULT): the chunks of every file parsed anew, or whose metadata
   changed, are embedded in the node's embedding pool and written to the index's collection,
   then the file's older rows are deleted.

What the index holds of each file is recorded as soon as that file is done, so a cancelled,
failed or interrupted run leaves a consistent index and the next run does only what is left.
The cancel flag is checked between files and between embedding batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson

from ingestnode import vectors
from ingestnode.files import FileLibrary
from ingestnode.models import Configuration, Directory, DirectoryFile, Index, IndexedFile, IndexState, StoredFile, new_id
from ingestnode.store import Job, ManagedStore
from managed.api import ATTACHMENT_KINDS, Status, iso_time
from managed.attachments import render_pages_png
from managed.chunking import Chunk, chunk_document
from managed.parsing import Page, ParsedDocument, ParseError, parse_document
from quiver.cluster import ClusterClient
from quiver.ids import now_ms
from quiver.schema import DEFAULT_PARTITION, Collection

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], Awaitable[np.ndarray]]
SCREENSHOT_SCALE = 1.5  # 108 dpi: readable, and a page stays around 100-300 KB of PNG


class SyncCancelled(Exception):
    """The user cancelled the sync (or deleted the index)."""


class LeaseLost(Exception):
    """Another run may hold the index now: stop without writing anything more."""


@dataclass(frozen=True)
class ParseSettings:
    """How files are parsed and chunked, from the index's parse configuration."""

    chunk_size: int = 800
    chunk_overlap: int = 100
    max_pages: int = 0  # 0: every page
    target_pages: str = ""  # "1,3,5-8": only these pages (wins over max_pages)
    attachments: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Configuration | None, attachments: tuple[str, ...]) -> ParseSettings:
        ranges = (config.parameters.get("page_ranges") or {}) if config else {}
        return cls(max_pages=ranges.get("max_pages") or 0, target_pages=ranges.get("target_pages") or "",
                   attachments=tuple(sorted(attachments)))

    @property
    def key(self) -> str:
        return orjson.dumps(self, option=orjson.OPT_SORT_KEYS).decode()

    def pages(self, pages: tuple[Page, ...]) -> tuple[Page, ...]:
        if self.target_pages:
            wanted = _page_numbers(self.target_pages)
            return tuple(p for p in pages if p.number in wanted)
        return pages[: self.max_pages] if self.max_pages else pages


def _page_numbers(text: str) -> set[int]:
    numbers: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        numbers.update(range(int(first), int(last or first) + 1))
    return numbers


@dataclass(frozen=True)
class ParsedFile:
    document: ParsedDocument
    chunks: list[Chunk]
    attachments: dict[str, bytes]


def parse_file(data: bytes, name: str, content_type: str, settings: ParseSettings) -> ParsedFile:
    """Blocking: parse, select pages, chunk, and render the attachments asked for."""
    parsed = parse_document(data, name, content_type)
    document = ParsedDocument(settings.pages(parsed.pages), parsed.format)
    chunks = chunk_document(document, settings.chunk_size, settings.chunk_overlap)
    attachments: dict[str, bytes] = {}
    if document.format == "pdf":
        numbers = {p.number for p in document.pages}
        if "screenshots" in settings.attachments:
            for number, png in enumerate(render_pages_png(data, SCREENSHOT_SCALE), start=1):
                if number in numbers:
                    attachments[f"screenshots/page_{number}.png"] = png
        if "items" in settings.attachments:
            for page in document.pages:
                items = [{"text": i.text, "bbox": list(i.bbox)} for i in page.items]
                attachments[f"items/page_{page.number}.json"] = orjson.dumps({"page": page.number, "items": items})
    return ParsedFile(document, chunks, attachments)


def parsed_output(source: DirectoryFile, parsed: ParsedFile) -> bytes:
    """The parsed output kept in the index's output directory: pages and chunks."""
    return orjson.dumps({
        "source_directory_file_id": source.id,
        "display_name": source.display_name,
        "format": parsed.document.format,
        "pages": [{"page": p.number, "text": p.text} for p in parsed.document.pages],
        "chunks": parsed.chunks,
    })


def chunks_of_output(data: bytes) -> list[Chunk]:
    return [Chunk(**c) for c in orjson.loads(data)["chunks"]]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class SyncSettings:
    node_id: str
    claim_timeout_s: float
    lease_ttl_s: float
    daily_period_s: float
    embed_batch: int


class SyncWorker:
    def __init__(
        self, store: ManagedStore, files: FileLibrary, cluster: ClusterClient, embed: Embed, settings: SyncSettings
    ) -> None:
        self.store = store
        self.files = files
        self.cluster = cluster
        self.embed = embed
        self.settings = settings
        # Whether an embedding call has returned on this node: the first one loads the model,
        # which takes seconds, and a sync's progress says so meanwhile.
        self.model_loaded = False

    async def run(self, stop: asyncio.Event) -> None:
        await self.store.join_sync_group()
        claim_idle_ms = int(self.settings.claim_timeout_s * 1000)
        while not stop.is_set():
            try:
                job = await self.store.next_job(self.settings.node_id, claim_idle_ms, block_ms=1000)
                if job is not None:
                    await self._process(job)
            except Exception:  # Redis or a bug: log, back off, keep the worker alive
                log.exception("sync loop error")
                await asyncio.sleep(1.0)

    async def _process(self, job: Job) -> None:
        run_id = new_id("run")
        ttl_ms = int(self.settings.lease_ttl_s * 1000)
        if not await self.store.take_lease(job.index_id, run_id, ttl_ms):
            # Another run of this index holds the lease: the job stays pending, and is claimed
            # again once idle (by then that run has ended or lost the lease).
            log.info("index %s: another run holds the sync lease; job %s waits", job.index_id, job.job_id)
            return
        try:
            if not await self.store.start_job(job, run_id):
                log.info("index %s: job %s was cancelled or replaced; skipping", job.index_id, job.job_id)
            else:
                await self._run_with_lease(job, run_id)
        except asyncio.CancelledError:
            # The node is stopping: the job stays pending, and another node (or this one,
            # restarted) runs it again, doing only what this run left undone.
            await self.store.release_lease(job.index_id, run_id)
            raise
        await self.store.release_lease(job.index_id, run_id)
        await self.store.ack_job(job.message_id)

    async def _run_with_lease(self, job: Job, run_id: str) -> None:
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep(job, run_id, lost))
        try:
            run = IndexSync(self, job, run_id, lost)
            await run.run()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if not lost.is_set():
            await self.store.end_job(job)
            index = await self.store.get(Index, job.index_id)
            if index is not None and index.sync_frequency == "daily":
                await self.store.schedule_sync(index.id, now_ms() + int(self.settings.daily_period_s * 1000))

    async def _keep(self, job: Job, run_id: str, lost: asyncio.Event) -> None:
        """Renews the lease and keeps the job claimed while the run goes on."""
        ttl_ms = int(self.settings.lease_ttl_s * 1000)
        interval = min(self.settings.lease_ttl_s, self.settings.claim_timeout_s) / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.store.keep_job_claimed(self.settings.node_id, job.message_id)
                if not await self.store.keep_lease(job.index_id, run_id, ttl_ms):
                    log.error("index %s: lost the sync lease; stopping run %s", job.index_id, run_id)
                    lost.set()
                    return
            except Exception:  # Redis unreachable for a moment: the TTL leaves time to retry
                log.warning("index %s: could not renew the sync lease", job.index_id, exc_info=True)


class IndexSync:
    """One run of one index's sync."""

    def __init__(self, worker: SyncWorker, job: Job, run_id: str, lease_lost: asyncio.Event) -> None:
        self.w = worker
        self.store = worker.store
        self.job = job
        self.run_id = run_id
        self.lease_lost = lease_lost
        self.started_ms = now_ms()
        self.counts = {"files_parsed": 0, "files_exported": 0, "files_removed": 0, "chunks_embedded": 0}
        self.embed_s = 0.0

    async def run(self) -> None:
        index = await self.store.get(Index, self.job.index_id)
        if index is None:
            return
        state = await self.store.index_state(index.id)
        try:
            state = await self._sync(index, state)
            await self._finish(index, state, "completed")
        except SyncCancelled:
            log.info("index %s: sync cancelled", index.id)
            await self._finish(index, await self.store.index_state(index.id), "cancelled")
        except LeaseLost:
            return
        except Exception as error:
            log.exception("index %s: sync failed", index.id)
            failed = replace(await self.store.index_state(index.id), status=Status.FAILED, error_message=str(error))
            await self._finish(index, failed, "failed")

    async def _sync(self, index: Index, state: IndexState) -> IndexState:
        config = await self._parse_config(index)
        settings = ParseSettings.of(config, index.store_attachments)
        live = await self.store.live_directory_files(index.source_directory_id)
        held = await self.store.indexed_files(index.id)
        state = await self._save(index, replace(state, status=Status.SYNCING, error_message=None))

        live_ids = {f.id for f in live}
        for file_id in [f for f in held if f not in live_ids]:
            await self._check()
            await self._remove(index, file_id, held.pop(file_id))
        for position, source in enumerate(live):
            await self._check()
            await self._progress(index, Status.SYNCING, position, len(live))
            held[source.id] = await self._parse_if_changed(index, settings, source, held.get(source.id))
        state = await self._save(index, replace(await self.store.index_state(index.id), last_synced_ms=now_ms()))

        if index.exports_vectors:
            state = await self._export(index, live, held)
        return replace(state, **_totals(live, held))

    async def _parse_config(self, index: Index) -> Configuration | None:
        config_id = index.config_id("parse")
        config = await self.store.get(Configuration, config_id) if config_id else None
        if config_id and config is None:
            log.warning("index %s: parse configuration %s is gone; parsing with the defaults", index.id, config_id)
        return config

    # -- phase 1: parse ----------------------------------------------------------------------

    async def _parse_if_changed(
        self, index: Index, settings: ParseSettings, source: DirectoryFile, held: IndexedFile | None
    ) -> IndexedFile:
        stored = await self.store.get(StoredFile, source.file_id)
        if stored is None:
            return await self._record(index, source, _failed(held, "", source, "its file was deleted"))
        parse_key = _digest(stored.content_hash, settings.key)
        if held is not None and held.parse_key == parse_key:
            return held
        data = await self.w.files.read(stored)
        try:
            parsed = await asyncio.to_thread(parse_file, data, stored.name, stored.content_type, settings)
        except ParseError as error:
            return await self._record(index, source, _failed(held, parse_key, source, str(error)))
        await self._store_attachments(source, parsed, settings.attachments)
        output_id = await self._replace_output(index, source, parsed)
        self.counts["files_parsed"] += 1
        return await self._record(index, source, IndexedFile(
            parse_key=parse_key, export_key=held.export_key if held else "", output_file_id=output_id,
            display_name=source.display_name, chunk_count=len(parsed.chunks),
            token_count=sum(c.token_count for c in parsed.chunks),
        ))

    async def _store_attachments(self, source: DirectoryFile, parsed: ParsedFile, kinds: tuple[str, ...]) -> None:
        """Replaces the file's attachments of the kinds this index stores (another index over
        the same directory may store other kinds of the same file)."""
        if not kinds:
            return
        await asyncio.to_thread(self.w.files.blobs.put_attachments, source.id, kinds, parsed.attachments)
        modified = now_ms()
        await self.store.put_attachments(
            source.id, kinds, {name: {"size": len(data), "modified_ms": modified} for name, data in parsed.attachments.items()}
        )

    async def _replace_output(self, index: Index, source: DirectoryFile, parsed: ParsedFile) -> str:
        """Puts the parsed output in the index's output directory (unique_id: the source file's
        id), deleting the output it replaces."""
        output = await self.store.get(Directory, index.output_directory_id)
        assert output is not None, "an index's output directory lives as long as the index"
        data = await asyncio.to_thread(parsed_output, source, parsed)
        stored = await self.w.files.keep_bytes(data, index.project_id, f"{source.display_name}.json", "parse",
                                               "application/json")
        placed, replaced = await self.w.files.attach(output, stored, f"{source.display_name}.json", source.id, None)
        if replaced is not None and replaced.file_id != stored.id:
            previous = await self.store.get(StoredFile, replaced.file_id)
            if previous is not None:
                await self.w.files.delete(previous)
        return placed.id

    async def _remove(self, index: Index, file_id: str, held: IndexedFile) -> None:
        """A file that left the source directory leaves the index: rows, output, attachments."""
        if index.exports_vectors and held.export_key:
            await self._delete_rows(index, vectors.file_rows(file_id))
        if held.output_file_id:
            output = await self.store.get(DirectoryFile, held.output_file_id)
            if output is not None:
                stored = await self.store.get(StoredFile, output.file_id)
                if stored is not None:
                    await self.w.files.delete(stored)
                await self.store.soft_delete_directory_file(replace(output, deleted_ms=now_ms()))
        await asyncio.to_thread(self.w.files.blobs.put_attachments, file_id, ATTACHMENT_KINDS, {})
        await self.store.put_attachments(file_id, ATTACHMENT_KINDS, {})
        if not await self.store.put_indexed_file(index.id, file_id, None):
            raise SyncCancelled("the index was deleted")
        self.counts["files_removed"] += 1

    # -- phase 2: export ---------------------------------------------------------------------

    async def _export(self, index: Index, live: list[DirectoryFile], held: dict[str, IndexedFile]) -> IndexState:
        collection = await self.w.cluster.collection(index.collection_name)
        pending = [(s, held[s.id]) for s in live if _needs_export(held[s.id], s)]
        total_chunks = sum(h.chunk_count for _, h in pending if not h.error)
        done_chunks = 0
        for position, (source, file) in enumerate(pending):
            await self._check()
            await self._progress(index, Status.EXPORTING, position, len(pending), done_chunks, total_chunks)
            if file.error:  # parsing now fails: the chunks of an older version go
                await self._delete_rows(index, vectors.file_rows(source.id))
                held[source.id] = await self._record(index, source, replace(file, export_key=""))
                continue
            done_chunks = await self._export_file(index, collection, source, file, done_chunks, total_chunks)
            held[source.id] = await self._record(index, source, replace(file, export_key=_export_key(file, source)))
            self.counts["files_exported"] += 1
        return await self._save(index, replace(await self.store.index_state(index.id), last_exported_ms=now_ms()))

    async def _export_file(
        self, index: Index, collection: Collection, source: DirectoryFile, file: IndexedFile, done: int, total: int
    ) -> int:
        """Embeds and inserts a file's chunks, then deletes its older rows; returns chunks done."""
        output = await self.store.get(DirectoryFile, file.output_file_id)
        stored = await self.store.get(StoredFile, output.file_id) if output else None
        if stored is None:
            raise RuntimeError(f"the parsed output of {source.display_name!r} is missing")
        chunks = await asyncio.to_thread(chunks_of_output, await self.w.files.read(stored))
        metadata = {**source.metadata, "file_name": source.display_name}
        partition = collection.partition(DEFAULT_PARTITION).id
        batch = self.w.settings.embed_batch
        try:
            for start in range(0, len(chunks), batch):
                await self._check()
                part = chunks[start : start + batch]
                began = time.perf_counter()
                embedded = await self.w.embed([c.text for c in part])
                self.w.model_loaded = True
                self.embed_s += time.perf_counter() - began
                rows = vectors.chunk_rows(collection, source.id, self.run_id, part, metadata)
                await self.w.cluster.insert(collection, partition, embedded, None, rows)
                done += len(part)
                self.counts["chunks_embedded"] += len(part)
                await self._progress(index, Status.EXPORTING, None, None, done, total)
        except (SyncCancelled, LeaseLost):  # this run's rows of a half-exported file go
            await self._delete_rows(index, f"{vectors.file_rows(source.id)} and {vectors.RUN_ID} == "
                                           f"{vectors.literal(self.run_id)}")
            raise
        await self._delete_rows(index, vectors.file_rows(source.id, except_run=self.run_id))
        return done

    async def _delete_rows(self, index: Index, filter_text: str) -> None:
        collection = await self.w.cluster.collection(index.collection_name)
        await self.w.cluster.delete(collection, filter_text=filter_text)

    # -- state -------------------------------------------------------------------------------

    async def _check(self) -> None:
        if self.lease_lost.is_set():
            raise LeaseLost()
        job = await self.store.job_state(self.job.index_id)
        if job is None or job.job_id != self.job.job_id or job.cancel:
            raise SyncCancelled()

    async def _record(self, index: Index, source: DirectoryFile, file: IndexedFile) -> IndexedFile:
        if not await self.store.put_indexed_file(index.id, source.id, file):
            raise SyncCancelled("the index was deleted")
        return file

    async def _save(self, index: Index, state: IndexState) -> IndexState:
        if self.lease_lost.is_set():
            raise LeaseLost()
        if not await self.store.put_index_state(index.id, state):
            raise SyncCancelled("the index was deleted")
        return state

    async def _progress(
        self, index: Index, phase: str, files_done: int | None, files_total: int | None,
        chunks_done: int = 0, chunks_total: int = 0,
    ) -> None:
        state = await self.store.index_state(index.id)
        progress = dict(state.progress or {}) if files_done is None else {
            "files_done": files_done, "files_total": files_total,
        }
        progress.update(phase=phase, chunks_done=chunks_done, chunks_total=chunks_total)
        progress.pop("loading_embedding_model", None)
        if phase == Status.EXPORTING and not self.w.model_loaded:  # the next embedding call loads it
            progress["loading_embedding_model"] = True
        await self._save(index, replace(state, status=phase, progress=progress))

    async def _finish(self, index: Index, state: IndexState, outcome: str) -> None:
        finished = now_ms()
        summary = {
            "run_id": self.run_id,
            "outcome": outcome,
            "started_at": iso_time(self.started_ms),
            "finished_at": iso_time(finished),
            "duration_s": round((finished - self.started_ms) / 1000, 3),
            **self.counts,
            "embedding_s": round(self.embed_s, 3),  # the first run of a node includes loading the model
        }
        if outcome == "cancelled":
            # The index holds what the run finished; it answers queries as it did, or, before
            # any run completed, it has failed to build.
            built = bool(state.last_exported_ms if index.exports_vectors else state.last_synced_ms)
            state = replace(state, status=Status.READY if built else Status.FAILED,
                            error_message=None if built else "the sync was cancelled before it completed")
        elif outcome == "completed":
            state = _outcome(state)
        with contextlib.suppress(SyncCancelled, LeaseLost):  # deleted meanwhile: nothing to show it to
            await self._save(index, replace(state, progress=None, last_sync=summary))
        log.info("index %s: sync %s in %.1fs %s", index.id, outcome, summary["duration_s"], self.counts)


def _export_key(file: IndexedFile, source: DirectoryFile) -> str:
    """What a file's rows must have been made from: its parse and its metadata."""
    return _digest(file.parse_key, orjson.dumps(source.metadata, option=orjson.OPT_SORT_KEYS).decode(),
                   source.display_name)


def _needs_export(file: IndexedFile, source: DirectoryFile) -> bool:
    """Its rows are not those of its current parse, or it failed and older rows remain."""
    return bool(file.export_key) if file.error else file.export_key != _export_key(file, source)


def _failed(held: IndexedFile | None, parse_key: str, source: DirectoryFile, error: str) -> IndexedFile:
    """A file that could not be parsed: left out, its older rows (export_key) still to delete."""
    return IndexedFile(parse_key=parse_key, export_key=held.export_key if held else "",
                       output_file_id=held.output_file_id if held else "", display_name=source.display_name,
                       chunk_count=0, token_count=0, error=error)


def _totals(live: list[DirectoryFile], held: dict[str, IndexedFile]) -> dict[str, Any]:
    files = [held[s.id] for s in live]
    good = [f for f in files if not f.error]
    return {
        "file_count": len(good),
        "chunk_count": sum(f.chunk_count for f in good),
        "token_count": sum(f.token_count for f in good),
        "files_failed": tuple(
            {"directory_file_id": s.id, "display_name": held[s.id].display_name, "error": held[s.id].error}
            for s in live if held[s.id].error
        ),
    }


def _outcome(state: IndexState) -> IndexState:
    """ready, unless every file failed to parse."""
    if state.files_failed and not state.file_count:
        reasons = "; ".join(f"{f['display_name']}: {f['error']}" for f in state.files_failed[:3])
        return replace(state, status=Status.FAILED, error_message=f"no file could be parsed ({reasons})")
    return replace(state, status=Status.READY, error_message=None)
