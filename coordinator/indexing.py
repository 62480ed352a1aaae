"""Vector and scalar indexes of collections: creating and dropping them, and the queue of builds
that index nodes take segment by segment."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from coordinator.catalog import Catalog
from coordinator.changes import ChangeFeed
from coordinator.datanodes import DataNodes
from coordinator.ids import IdBlocks
from quiver import bucket
from quiver.catalogue import IndexFamily, check_metric
from quiver.errors import ErrorCode, QuiverError
from quiver.ids import now_ms
from quiver.schema import Collection, IndexProgress, IndexSpec, IndexState, Node, Segment, SegmentState

log = logging.getLogger(__name__)

# With automatic compaction on, a flushed segment with this share of its rows deleted is
# compacted at once, and indexed only then: building an index mostly of deleted rows is waste.
COMPACT_BEFORE_BUILD_SHARE = 0.5


@dataclass(frozen=True)
class BuildJob:
    segment: Segment
    collection: Collection
    spec: IndexSpec
    owner: Node


class Indexes:
    def __init__(
        self,
        catalog: Catalog,
        ids: IdBlocks,
        datanodes: DataNodes,
        changes: ChangeFeed,
        min_build_rows: int,
        compaction_due: asyncio.Event | None,
    ) -> None:
        self.catalog = catalog
        self.ids = ids
        self.datanodes = datanodes
        self.changes = changes
        self.min_build_rows = min_build_rows
        # With automatic compaction on: set to ask for a round at once (segments mostly deleted).
        self._compaction_due = compaction_due

    async def create(self, collection: Collection, spec: IndexSpec, replace_existing: bool) -> Collection:
        field = collection.schema.field_named(spec.field_name or collection.vector_field.name)
        kind = spec.catalogue_type
        if field.is_vector:
            if kind.vector_kind is not collection.layout.kind:
                raise QuiverError(
                    ErrorCode.INVALID_INDEX_TYPE,
                    f"index type {kind.name} does not index {collection.layout.kind.value} vectors",
                )
            check_metric(kind, spec.metric_type)
        elif kind.family is not IndexFamily.SCALAR:
            raise QuiverError(ErrorCode.INVALID_INDEX_TYPE, f"{kind.name} cannot index scalar field {field.name!r}")
        existing = collection.index_for(field.name)
        if existing is not None:
            same = (existing.index_type, existing.metric_type, existing.params) == (
                spec.index_type, spec.metric_type, spec.params
            )
            if same:
                return collection
            if not replace_existing:
                raise QuiverError(
                    ErrorCode.INDEX_EXISTS,
                    f"field {field.name!r} already has a different index {existing.index_name!r}; "
                    "drop it first",
                )
        created = replace(
            spec,
            field_name=field.name,
            index_name=spec.index_name or field.name,
            version=await self.ids.allocate(1),
            created_ms=now_ms(),
        )
        await self.catalog.put_index(collection.id, created)
        if existing is not None and field.is_vector:  # replaced: the old version's files go
            segments = await self.catalog.collection_segments(collection.id)
            await self.catalog.collect_later(
                [bucket.index_file(collection.id, s.id, existing.version) for s in segments]
            )
        collection = await self.catalog.get_collection(collection.id) or collection
        self.changes.collection_changed(collection)
        log.info("index %s (%s) on %s.%s", created.index_name, created.index_type, collection.name, field.name)
        if field.is_vector:
            await self.queue_builds(collection, await self.catalog.collection_segments(collection.id))
        return collection

    async def queue_builds(self, collection: Collection, segments: list[Segment]) -> None:
        """Queues the builds of the collection's vector index these flushed segments lack
        (idempotent per index version: a build is never queued twice)."""
        spec = collection.vector_index
        if spec is None or not spec.catalogue_type.builds_for(spec.metric_type):
            return
        ready = [
            s.id for s in segments
            if s.state is SegmentState.FLUSHED and s.row_count >= self.min_build_rows
        ]
        if self._compaction_due is not None:  # mostly deleted rows: compacted at once, the result built
            doomed = {s.id for s in segments if s.deleted_count >= COMPACT_BEFORE_BUILD_SHARE * s.row_count}
            if doomed.intersection(ready):
                ready = [i for i in ready if i not in doomed]
                self._compaction_due.set()
        queued = await self.catalog.queue_builds(ready, spec.version)
        if queued:
            log.info("queued %d %s builds for %s", len(queued), spec.index_type, collection.name)

    async def drop(self, collection: Collection, field_name: str) -> None:
        spec = collection.index_for(field_name or collection.vector_field.name)
        if spec is None:
            raise QuiverError(
                ErrorCode.INDEX_NOT_FOUND, f"collection {collection.name!r} has no index on {field_name!r}"
            )
        if spec.field_name != collection.vector_field.name:  # a scalar index: no builds to undo
            await self.catalog.drop_index(collection.id, spec, [])
            self.changes.collection_changed(collection)
            return
        segments = await self.catalog.collection_segments(collection.id)
        await self.catalog.drop_index(collection.id, spec, [s.id for s in segments])
        self.changes.collection_changed(collection)
        await self.datanodes.drop_indexes_on_live_nodes(
            await self.catalog.nodes(), segments, f"collection {collection.name!r}"
        )

    def progress(self, collection: Collection, segments: list[Segment]) -> IndexProgress | None:
        spec = collection.vector_index
        return None if spec is None else index_progress(spec, segments, self.min_build_rows)

    async def start_build(self, segment_id: int, version: int) -> BuildJob | None:
        """The job for an index node, or None when the index was dropped or replaced."""
        segment = await self.catalog.get_segment(segment_id)
        collection = await self.catalog.get_collection(segment.collection_id) if segment else None
        spec = collection.vector_index if collection else None
        if segment is None or collection is None or spec is None or spec.version != version:
            return None
        if segment.index_version == version and segment.index_state is IndexState.FINISHED:
            return None  # a duplicate task: built already
        owner = next((n for n in await self.catalog.nodes() if n.node_id == segment.node_id), None)
        if owner is None or not owner.alive:
            raise QuiverError(
                ErrorCode.UNAVAILABLE, f"data node {segment.node_id} holding segment {segment_id} is down"
            )
        if not await self.catalog.set_build_state(segment_id, version, IndexState.BUILDING):
            return None
        return BuildJob(segment, collection, spec, owner)

    async def finish_build(self, segment_id: int, version: int, failed: bool, reason: str) -> None:
        state = IndexState.FAILED if failed else IndexState.FINISHED
        if await self.catalog.set_build_state(segment_id, version, state, reason):
            level = logging.WARNING if failed else logging.INFO
            log.log(level, "segment %d index build %s%s", segment_id, state.name.lower(),
                    f": {reason}" if reason else "")


def index_progress(spec: IndexSpec, segments: list[Segment], min_build_rows: int) -> IndexProgress:
    """How far the builds of an index are: sealed segments big enough to index count."""
    total = sum(s.row_count for s in segments)
    if not spec.catalogue_type.builds_for(spec.metric_type):
        return IndexProgress(total, total, 0, IndexState.FINISHED)
    wanted = [
        s for s in segments
        if s.state is not SegmentState.GROWING and s.row_count >= min_build_rows
    ]
    current = [s for s in wanted if s.index_version == spec.version]
    indexed = sum(s.row_count for s in current if s.index_state is IndexState.FINISHED)
    failed = [s for s in current if s.index_state is IndexState.FAILED]
    pending = sum(s.row_count for s in wanted) - indexed - sum(s.row_count for s in failed)
    if failed:
        reason = f"segment {failed[0].id}: {failed[0].index_reason}"
        return IndexProgress(total, indexed, pending, IndexState.FAILED, reason)
    state = IndexState.FINISHED if pending == 0 else IndexState.BUILDING
    return IndexProgress(total, indexed, pending, state)
