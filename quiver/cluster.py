"""The client side of the cluster, for the roles that serve users (the proxy, ingest nodes): one
client for the coordinator and every data node.

Routing metadata (collections, which nodes hold their segments, segment assignments) is cached
while the client follows the coordinator's catalog stream, which invalidates entries as they
change; while the stream is down nothing is cached. Searches, lookups and deletes fan out to
every data node that holds segments of the collection, one call per node with everything
packed, and a node that is down fails the request with its name: never a partial answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import pyarrow as pa

from quiver.batching import MicroBatcher
from quiver.catalogue import Metric
from quiver.errors import ErrorCode, QuiverError
from quiver.packing import pack_ids, pack_table, unpack_distances, unpack_ids, unpack_table
from quiver.rpc import Channels, call, check, request_metadata, rpc_error
from quiver.schema import (
    Collection,
    IdMode,
    IndexProgress,
    IndexSpec,
    IndexState,
    Node,
    NodeRole,
    RuntimeConfig,
    Segment,
)
from quiver.topk import PAD_ID, empty_hits, topk_order
from quiver_pb import common_pb2 as pb
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb import datanode_pb2 as dpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.datanode_pb2_grpc import DataNodeStub

log = logging.getLogger(__name__)

ID_BLOCK = 100_000
INSERT_ATTEMPTS = 20
UNAVAILABLE_RETRY_S = 5.0  # how long an insert waits for its node to come back


@dataclass(frozen=True)
class Routing:
    collection: Collection
    segments: tuple[Segment, ...]
    nodes: dict[str, Node]  # the nodes that own the segments

    def owners(self, partition_ids: set[int], segment_ids: set[int]) -> list[Node]:
        """The nodes to ask; raises naming any that is down."""
        wanted = {
            s.node_id
            for s in self.segments
            if (not partition_ids or s.partition_id in partition_ids)
            and (not segment_ids or s.id in segment_ids)
        }
        down = sorted(n for n in wanted if n not in self.nodes or not self.nodes[n].alive)
        if down:
            raise QuiverError(
                ErrorCode.UNAVAILABLE,
                f"data node{'s' if len(down) > 1 else ''} {', '.join(down)} holding segments of "
                f"collection {self.collection.name!r} {'are' if len(down) > 1 else 'is'} down",
            )
        return [self.nodes[n] for n in sorted(wanted)]


@dataclass(frozen=True)
class CollectionStatus:
    """A collection with its segments' latest statistics and its index's build progress."""

    collection: Collection
    segments: list[Segment]
    index_progress: IndexProgress | None


@dataclass(frozen=True)
class SearchResult:
    """(nq, k) ids and distances, -1 padded, and the output fields of the hits whose id is
    not -1, in order (None when none were asked for)."""

    ids: np.ndarray
    distances: np.ndarray
    fields: pa.Table | None


@dataclass(frozen=True)
class QueryResult:
    count: int  # every match
    ids: np.ndarray  # the requested page of matches, by ascending id
    fields: pa.Table | None


@dataclass(frozen=True)
class Assignment:
    segment_id: int
    node: Node


class IdBlock:
    """Ids reserved from the coordinator in blocks, handed out locally."""

    def __init__(self, coordinator: CoordinatorStub) -> None:
        self._coordinator = coordinator
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def take(self, count: int) -> np.ndarray:
        async with self._lock:
            if self._end - self._next < count:
                size = max(count, ID_BLOCK)
                reply = await call(
                    self._coordinator.AllocateIds,
                    cpb.AllocateIdsRequest(count=size),
                    peer="coordinator",
                )
                self._next, self._end = reply.start, reply.start + size
            start = self._next
            self._next += count
        return np.arange(start, start + count, dtype=np.int64)


class ClusterClient:
    def __init__(self, coordinator_address: str) -> None:
        self.channels = Channels()
        self.coordinator = CoordinatorStub(self.channels.get(coordinator_address))
        self.ids = IdBlock(self.coordinator)
        self._watching = False
        # Bumped by every invalidation: an answer fetched across one is not cached.
        self._generation = 0
        self._collections: dict[str, Collection] = {}
        self._routing: dict[int, Routing] = {}
        self._assignments: dict[tuple[int, int], Assignment] = {}
        self._assign_locks: defaultdict[tuple[int, int], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._searches: MicroBatcher[SearchResult] = MicroBatcher(_split_hits)

    async def close(self) -> None:
        await self.channels.close()

    # -- cache upkeep -------------------------------------------------------------------------

    async def follow_catalog(self, stop: asyncio.Event) -> None:
        """Follows the coordinator's change stream; caches are only used while it is open."""
        while not stop.is_set():
            stream = self.coordinator.WatchCatalog(pb.Empty())
            try:
                async for event in stream:
                    self._apply(event)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED:
                    log.debug("catalog stream closed: %s", error.details())
            finally:
                stream.cancel()
                self._watching = False
                self._generation += 1
                self._forget_all()
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            except TimeoutError:
                pass

    def _cacheable(self, generation: int) -> bool:
        return self._watching and generation == self._generation

    def _apply(self, event: cpb.CatalogEvent) -> None:
        self._generation += 1
        if event.kind == cpb.CatalogEvent.SNAPSHOT:
            self._forget_all()
            self._watching = True
        elif event.kind == cpb.CatalogEvent.COLLECTION_CHANGED:
            self._forget_collection(event.collection_id, event.collection_name)
        elif event.kind == cpb.CatalogEvent.NODES_CHANGED:
            self._routing.clear()
            self._assignments.clear()

    def _forget_all(self) -> None:
        self._collections.clear()
        self._routing.clear()
        self._assignments.clear()

    def _forget_routing(self, collection_id: int) -> None:
        self._generation += 1
        self._routing.pop(collection_id, None)

    def _forget_collection(self, collection_id: int, name: str = "") -> None:
        self._generation += 1
        self._collections.pop(name, None)
        for cached_name, collection in list(self._collections.items()):
            if collection.id == collection_id:
                del self._collections[cached_name]
        self._routing.pop(collection_id, None)
        for key in [k for k in self._assignments if k[0] == collection_id]:
            del self._assignments[key]

    # -- cluster state ------------------------------------------------------------------------

    async def ready(self) -> tuple[bool, str]:
        """Whether the cluster can serve: the coordinator answers and a data node is alive."""
        try:
            reply = await call(self.coordinator.ListNodes, pb.Empty(), peer="coordinator", timeout=2)
        except QuiverError as error:
            return False, error.message
        if not any(n.alive and n.role == pb.DATA_NODE for n in reply.nodes):
            return False, "no data node is registered yet"
        return True, ""

    async def nodes(self) -> list[Node]:
        reply = await call(self.coordinator.ListNodes, pb.Empty(), peer="coordinator")
        return [Node.from_proto(n) for n in reply.nodes]

    # -- collections --------------------------------------------------------------------------

    async def create_collection(self, spec: Collection) -> Collection:
        reply = await call(
            self.coordinator.CreateCollection,
            cpb.CreateCollectionRequest(collection=spec.to_proto()),
            peer="coordinator",
        )
        return Collection.from_proto(reply.collection)

    async def collection(self, name: str) -> Collection:
        cached = self._collections.get(name)
        if cached is not None:
            return cached
        generation = self._generation
        reply = await call(
            self.coordinator.DescribeCollection, cpb.CollectionRef(name=name), peer="coordinator"
        )
        collection = Collection.from_proto(reply.collection)
        if self._cacheable(generation):
            self._collections[name] = collection
        return collection

    async def describe(self, name: str) -> CollectionStatus:
        """Never cached: statistics change with every heartbeat."""
        reply = await call(
            self.coordinator.DescribeCollection, cpb.CollectionRef(name=name), peer="coordinator"
        )
        progress = None
        if reply.stats.HasField("index_progress"):
            p = reply.stats.index_progress
            progress = IndexProgress(
                p.total_rows, p.indexed_rows, p.pending_rows, IndexState(p.state), p.fail_reason
            )
        return CollectionStatus(
            Collection.from_proto(reply.collection),
            [Segment.from_proto(s) for s in reply.stats.segments],
            progress,
        )

    async def list_collections(self) -> list[tuple[Collection, int]]:
        reply = await call(self.coordinator.ListCollections, pb.Empty(), peer="coordinator")
        return [
            (Collection.from_proto(c), rows) for c, rows in zip(reply.collections, reply.row_counts)
        ]

    async def drop_collection(self, name: str) -> None:
        await call(self.coordinator.DropCollection, cpb.CollectionRef(name=name), peer="coordinator")
        self._collections.pop(name, None)

    async def runtime_config(self) -> RuntimeConfig:
        reply = await call(self.coordinator.GetConfig, pb.Empty(), peer="coordinator")
        return RuntimeConfig.from_proto(reply.config)

    async def set_runtime_config(self, config: RuntimeConfig) -> RuntimeConfig:
        reply = await call(self.coordinator.SetConfig, config.to_proto(), peer="coordinator")
        return RuntimeConfig.from_proto(reply.config)

    async def load(self, collection: Collection) -> None:
        """Has every data node load the collection's segments and indexes into memory."""
        await self._fan_out(collection, "Load", dpb.NodeFlushRequest(collection_ids=[collection.id]))

    async def gpus_available(self) -> bool:
        """Whether an index node that is up can build on a GPU."""
        return any(n.alive and n.role is NodeRole.INDEX and n.gpu_count for n in await self.nodes())

    # -- indexes ------------------------------------------------------------------------------

    async def create_index(self, name: str, spec: IndexSpec, replace: bool) -> Collection:
        reply = await call(
            self.coordinator.CreateIndex,
            cpb.CreateIndexRequest(collection_name=name, spec=spec.to_proto(), replace=replace),
            peer="coordinator",
        )
        self._forget_collection(reply.collection.id, name)
        return Collection.from_proto(reply.collection)

    async def drop_index(self, name: str, field_name: str = "") -> None:
        await call(
            self.coordinator.DropIndex,
            cpb.DropIndexRequest(collection_name=name, field_name=field_name),
            peer="coordinator",
        )
        self._forget_collection(0, name)

    async def wait_for_index(self, name: str) -> IndexProgress | None:
        """Polls until every sealed segment's build finished or failed."""
        delay = 0.05
        while True:
            status = await self.describe(name)
            progress = status.index_progress
            if progress is None or progress.state in (IndexState.FINISHED, IndexState.FAILED):
                return progress
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def compact(self, name: str) -> None:
        await call(self.coordinator.Compact, cpb.CollectionRef(name=name), peer="coordinator", timeout=None)

    async def rename_collection(self, name: str, new_name: str) -> None:
        await call(
            self.coordinator.RenameCollection,
            cpb.RenameRequest(collection_name=name, new_name=new_name),
            peer="coordinator",
        )
        self._forget_collection(0, name)

    async def set_released(self, name: str, released: bool) -> None:
        reply = await call(
            self.coordinator.SetReleased,
            cpb.ReleaseRequest(collection_name=name, released=released),
            peer="coordinator",
        )
        self._forget_collection(reply.collection.id, name)

    async def create_alias(self, alias: str, name: str, alter: bool = False) -> None:
        method = self.coordinator.AlterAlias if alter else self.coordinator.CreateAlias
        await call(method, cpb.AliasRequest(alias=alias, collection_name=name), peer="coordinator")
        self._forget_collection(0, alias)

    async def drop_alias(self, alias: str) -> None:
        await call(self.coordinator.DropAlias, cpb.AliasRequest(alias=alias), peer="coordinator")
        self._forget_collection(0, alias)

    async def list_aliases(self, name: str) -> list[tuple[str, str]]:
        reply = await call(self.coordinator.ListAliases, cpb.CollectionRef(name=name), peer="coordinator")
        return list(zip(reply.aliases, reply.collection_names))

    async def authenticate(self, user: str, password: str, api_key: str) -> str:
        reply = await call(
            self.coordinator.Authenticate,
            cpb.Credentials(user=user, password=password, api_key=api_key),
            peer="coordinator",
        )
        return reply.user

    async def flush(self, names: list[str]) -> None:
        await call(
            self.coordinator.Flush, cpb.FlushRequest(collection_names=names), peer="coordinator"
        )

    # -- inserts ------------------------------------------------------------------------------

    async def insert(
        self,
        collection: Collection,
        partition_id: int,
        vectors: np.ndarray,
        ids: np.ndarray | None,
        scalars: pa.Table | None = None,
        check_mode: bool = True,
    ) -> np.ndarray:
        """Stores the rows durably on their segment's data node; returns their row ids.
        `check_mode` holds a collection to one way of giving ids (upserts bring their keys)."""
        mode = IdMode.AUTO if ids is None else IdMode.USER
        if check_mode and collection.id_mode is not mode:
            await call(
                self.coordinator.ClaimIdMode,
                cpb.ClaimIdModeRequest(collection_id=collection.id, id_mode=int(mode)),
                peer="coordinator",
            )
            self._forget_collection(collection.id, collection.name)
        if ids is None:
            ids = await self.ids.take(len(vectors))
        request = dpb.InsertRequest(
            row_count=len(vectors),
            ids=pack_ids(ids),
            vectors=np.ascontiguousarray(vectors).tobytes(),
            scalars=pack_table(scalars),
            token=secrets.randbits(64) | 1,
        )
        key = (collection.id, partition_id)
        for attempt in range(INSERT_ATTEMPTS):
            assignment = await self._assignment(key)
            request.segment_id = assignment.segment_id
            try:
                await self._insert_on(assignment, request)
                return ids
            except QuiverError as error:
                self._assignments.pop(key, None)
                if error.code is not ErrorCode.SEGMENT_NOT_GROWING:
                    raise
                await asyncio.sleep(min(0.01 * attempt, 0.1))
        raise QuiverError(ErrorCode.UNAVAILABLE, "no growing segment could take the rows; retry")

    async def _insert_on(self, assignment: Assignment, request: dpb.InsertRequest) -> None:
        """Sends the rows to their segment's node, again while the node is unavailable (it may be
        restarting): the request's token keeps a retry from storing them twice. Never to another
        node, which could store them beside a copy the first one did write."""
        stub = DataNodeStub(self.channels.get(assignment.node.address))
        deadline = asyncio.get_running_loop().time() + UNAVAILABLE_RETRY_S
        while True:
            try:
                await call(stub.Insert, request, peer=_peer(assignment.node))
                return
            except QuiverError as error:
                if error.code is not ErrorCode.UNAVAILABLE or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def _assignment(self, key: tuple[int, int]) -> Assignment:
        async with self._assign_locks[key]:
            cached = self._assignments.get(key)
            if cached is not None:
                return cached
            generation = self._generation
            reply = await call(
                self.coordinator.AssignSegment,
                cpb.AssignSegmentRequest(collection_id=key[0], partition_id=key[1]),
                peer="coordinator",
            )
            assignment = Assignment(reply.segment.id, Node.from_proto(reply.node))
            self._forget_routing(key[0])  # the segment may sit on a node new to this collection
            if self._cacheable(generation):
                self._assignments[key] = assignment
            return assignment

    # -- reads and deletes --------------------------------------------------------------------

    async def routing(self, collection: Collection) -> Routing:
        cached = self._routing.get(collection.id)
        if cached is not None:
            return cached
        generation = self._generation
        reply = await call(
            self.coordinator.GetRouting, cpb.CollectionRef(id=collection.id), peer="coordinator"
        )
        routing = Routing(
            collection=Collection.from_proto(reply.collection),
            segments=tuple(Segment.from_proto(s) for s in reply.segments),
            nodes={n.node_id: Node.from_proto(n) for n in reply.nodes},
        )
        if self._cacheable(generation):
            self._routing[collection.id] = routing
        return routing

    async def _fan_out(
        self,
        collection: Collection,
        method: str,
        request: Any,
        partition_ids: set[int] | None = None,
        segment_ids: set[int] | None = None,
    ) -> list[Any]:
        """Calls `method` on every data node holding matching segments; retries once with fresh
        routing if a node is unreachable (it may have restarted on another address)."""
        for attempt in (0, 1):
            routing = await self.routing(collection)
            nodes = routing.owners(partition_ids or set(), segment_ids or set())
            calls = [
                getattr(DataNodeStub(self.channels.get(n.address)), method)(
                    request, timeout=60, metadata=request_metadata()
                )
                for n in nodes
            ]
            replies = await asyncio.gather(*calls, return_exceptions=True)
            failed = [
                (n, r) for n, r in zip(nodes, replies) if isinstance(r, grpc.aio.AioRpcError)
            ]
            if failed and attempt == 0:
                self._forget_routing(collection.id)
                continue
            for node, reply in zip(nodes, replies):
                if isinstance(reply, grpc.aio.AioRpcError):
                    raise rpc_error(reply, _peer(node))
                if isinstance(reply, BaseException):
                    raise reply
                check(reply.status)
            return list(replies)
        raise AssertionError("unreachable")

    async def search(
        self,
        collection: Collection,
        queries: np.ndarray,
        k: int,
        metric: Metric,
        partition_ids: set[int],
        segment_ids: set[int],
        params_json: str = "",
        filter_text: str = "",
        output_fields: list[str] | None = None,
    ) -> SearchResult:
        """Exact merge of every node's top-k, with the hits' output fields. Concurrent
        searches that differ only in their query vectors share one call to each node."""
        key = (collection.id, collection.version, k, metric.name, tuple(sorted(partition_ids)),
               tuple(sorted(segment_ids)), params_json, filter_text, tuple(output_fields or ()))

        async def run(batch: np.ndarray) -> SearchResult:
            return await self._search_now(
                collection, batch, k, metric, partition_ids, segment_ids, params_json, filter_text, output_fields
            )

        return await self._searches.call(key, queries, run)

    async def _search_now(
        self,
        collection: Collection,
        queries: np.ndarray,
        k: int,
        metric: Metric,
        partition_ids: set[int],
        segment_ids: set[int],
        params_json: str,
        filter_text: str,
        output_fields: list[str] | None,
    ) -> SearchResult:
        nq = len(queries)
        request = dpb.SearchRequest(
            collection_id=collection.id,
            partition_ids=sorted(partition_ids),
            segment_ids=sorted(segment_ids),
            metric_type=metric.name,
            topk=k,
            nq=nq,
            vectors=np.ascontiguousarray(queries).tobytes(),
            params_json=params_json,
            filter=filter_text,
            output_fields=output_fields or [],
            indexed_fields=_scalar_indexed(collection),
        )
        replies = await self._fan_out(collection, "Search", request, partition_ids, segment_ids)
        if not replies:
            return SearchResult(*empty_hits(nq, k), None)
        ids = [unpack_ids(r.ids).reshape(nq, k) for r in replies]
        distances = [unpack_distances(r.distances).reshape(nq, k) for r in replies]
        all_ids, all_distances = np.concatenate(ids, axis=1), np.concatenate(distances, axis=1)
        order = topk_order(all_ids, all_distances, k, metric)
        best_ids = np.take_along_axis(all_ids, order, 1)
        best_distances = np.take_along_axis(all_distances, order, 1)
        fields = None
        if output_fields:
            fields = _follow(order, ids, [unpack_table(r.fields) for r in replies], k)
        return SearchResult(best_ids, best_distances, fields)

    async def query(
        self,
        collection: Collection,
        partition_ids: set[int],
        filter_text: str,
        output_fields: list[str],
        limit: int,
        offset: int = 0,
    ) -> QueryResult:
        """Rows that pass the filter, ordered by id: how many, and the page asked for."""
        request = dpb.QueryRequest(
            collection_id=collection.id,
            partition_ids=sorted(partition_ids),
            filter=filter_text,
            output_fields=output_fields,
            limit=offset + limit,
            indexed_fields=_scalar_indexed(collection),
        )
        replies = await self._fan_out(collection, "Query", request, partition_ids)
        count = sum(r.count for r in replies)
        ids = [unpack_ids(r.ids) for r in replies]
        tables = [unpack_table(r.fields) for r in replies]
        if not ids or not limit:
            return QueryResult(count, np.empty(0, dtype=np.int64), None)
        all_ids = np.concatenate(ids)
        page = np.argsort(all_ids, kind="stable")[offset : offset + limit]
        fields = None
        if output_fields and any(t is not None for t in tables):
            fields = pa.concat_tables([t for t in tables if t is not None]).take(page)
        return QueryResult(count, all_ids[page], fields)

    async def get_vectors(
        self, collection: Collection, ids: np.ndarray
    ) -> dict[int, np.ndarray]:
        request = dpb.GetVectorsRequest(collection_id=collection.id, ids=pack_ids(ids))
        found: dict[int, np.ndarray] = {}
        layout = collection.layout
        for reply in await self._fan_out(collection, "GetVectors", request):
            vectors = layout.unpack(reply.vectors)
            for row_id, vector in zip(unpack_ids(reply.ids).tolist(), vectors):
                found.setdefault(row_id, vector)
        return found

    async def delete(
        self,
        collection: Collection,
        ids: np.ndarray | None = None,
        filter_text: str = "",
        partition_ids: set[int] | None = None,
    ) -> int:
        """Deletes rows by row id or by filter on every node; returns how many were deleted."""
        request = dpb.DeleteRequest(
            collection_id=collection.id,
            ids=pack_ids(ids if ids is not None else np.empty(0, dtype=np.int64)),
            filter=filter_text,
            partition_ids=sorted(partition_ids or ()),
            indexed_fields=_scalar_indexed(collection),
        )
        replies = await self._fan_out(collection, "Delete", request, partition_ids)
        return sum(r.deleted_count for r in replies)

    async def segment_ids(self, collection: Collection) -> set[int]:
        return {s.id for s in (await self.routing(collection)).segments}

    async def segment_rows(
        self, collection: Collection, segment_id: int, offset: int, limit: int, with_vectors: bool
    ) -> tuple[int, np.ndarray, np.ndarray | None]:
        """A page of a segment's live rows: (live rows in all, ids, vectors or None)."""
        routing = await self.routing(collection)
        if not any(s.id == segment_id for s in routing.segments):
            raise QuiverError(
                ErrorCode.SEGMENT_NOT_FOUND,
                f"segment {segment_id} is not a segment of collection {collection.name!r}",
            )
        (node,) = routing.owners(set(), {segment_id})
        reply = await call(
            DataNodeStub(self.channels.get(node.address)).SegmentRows,
            dpb.SegmentRowsRequest(
                segment_id=segment_id, offset=offset, limit=limit, with_vectors=with_vectors
            ),
            peer=_peer(node),
        )
        vectors = collection.layout.unpack(reply.vectors) if with_vectors else None
        return reply.total, unpack_ids(reply.ids), vectors

    async def create_partition(self, name: str, partition_name: str) -> None:
        await call(
            self.coordinator.CreatePartition,
            cpb.PartitionRequest(collection_name=name, partition_name=partition_name),
            peer="coordinator",
        )
        self._forget_collection(0, name)

    async def drop_partition(self, name: str, partition_name: str) -> None:
        await call(
            self.coordinator.DropPartition,
            cpb.PartitionRequest(collection_name=name, partition_name=partition_name),
            peer="coordinator",
        )
        self._forget_collection(0, name)


def _scalar_indexed(collection: Collection) -> list[str]:
    """Fields whose scalar index the data nodes use to answer filters."""
    vector = collection.vector_field.name
    return sorted(i.field_name for i in collection.indexes if i.field_name != vector)


def _split_hits(result: SearchResult, rows: list[int]) -> list[SearchResult]:
    """A batch's answer cut back into each search's queries (and the fields of their hits)."""
    parts, start, hit_start = [], 0, 0
    hits_per_query = (result.ids != PAD_ID).sum(axis=1)
    for count in rows:
        end = start + count
        hits = int(hits_per_query[start:end].sum())
        fields = result.fields.slice(hit_start, hits) if result.fields is not None else None
        parts.append(SearchResult(result.ids[start:end], result.distances[start:end], fields))
        start, hit_start = end, hit_start + hits
    return parts


def _follow(order: np.ndarray, ids: list[np.ndarray], tables: list[pa.Table | None], k: int) -> pa.Table:
    """The output fields of the merged hits: each node's table holds the fields of its hits
    whose id is not -1, in order; `order` picks hits out of the nodes' side-by-side answers."""
    nq = order.shape[0]
    row_of, table_of = [], []
    for node, node_ids in enumerate(ids):
        present = node_ids != PAD_ID
        rows = np.cumsum(present.reshape(-1)).reshape(nq, k) - 1  # row in the node's table
        row_of.append(np.where(present, rows, -1))
        table_of.append(np.full((nq, k), node))
    rows = np.take_along_axis(np.concatenate(row_of, axis=1), order, 1).reshape(-1)
    nodes = np.take_along_axis(np.concatenate(table_of, axis=1), order, 1).reshape(-1)
    hit = rows >= 0
    offsets = np.cumsum([0] + [t.num_rows if t is not None else 0 for t in tables])
    combined = pa.concat_tables([t for t in tables if t is not None])
    return combined.take(offsets[nodes[hit]] + rows[hit])


def _peer(node: Node) -> str:
    kind = "data node" if node.role is NodeRole.DATA else "node"
    return f"{kind} {node.node_id} at {node.address}"
