"""The client side of the cluster, for the roles that serve users (the proxy, ingest nodes): one
client for the coordinator, the log and every data node.

Writes are published to the collection's shard channels in the log and acknowledged once the
log has them; no data node needs to be up. Routing metadata (collections, which node consumes
each channel) is cached while the client follows the coordinator's catalog stream, which
invalidates entries as they change; while the stream is down nothing is cached. Reads fan out to
the nodes that consume the collection's channels (they serve its segments too), one call per node
with everything packed, and a channel without a live consumer fails the request naming it:
never a partial answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import pyarrow as pa

from quiver import metrics
from quiver.batching import MicroBatcher
from quiver.catalogue import Metric
from quiver.channels import MAX_MESSAGE_BYTES, pack_delete, pack_insert, shard_of
from quiver.errors import ErrorCode, QuiverError
from quiver.freshness import StrongReads
from quiver.log import Log, LogConfig
from quiver.packing import pack_ids, pack_table, unpack_distances, unpack_ids, unpack_table
from quiver.rpc import Channels, call, check, request_metadata, rpc_error
from quiver.schema import (
    Channel,
    Collection,
    Consistency,
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
READ_TIMEOUT_S = 60.0
# How long a read is retried while a channel it needs has no node serving it yet (a node that
# just took a channel over restores its segments first): a blip, not an error, for the client.
UNAVAILABLE_RETRY_S = 3.0
# Queries that resolve a delete's filter to row ids take every match.
ALL_MATCHES = 1 << 62


@dataclass(frozen=True)
class Routing:
    collection: Collection
    segments: tuple[Segment, ...]
    channels: tuple[Channel, ...]
    nodes: dict[str, Node]  # the nodes that consume the channels

    def consumers(self) -> list[tuple[Node, list[int]]]:
        """Each node to ask with the channels it answers for; raises naming any channel whose
        consumer is down (its channels move to a live node within seconds)."""
        by_node: defaultdict[str, list[int]] = defaultdict(list)
        down = []
        for channel in self.channels:
            node = self.nodes.get(channel.node_id)
            if node is None or not node.alive:
                down.append(channel)
            else:
                by_node[node.node_id].append(channel.shard)
        if down:
            named = ", ".join(f"{c.collection_id}/{c.shard} (on {c.node_id or 'no node yet'})" for c in down)
            raise QuiverError(
                ErrorCode.UNAVAILABLE,
                f"channel{'s' if len(down) > 1 else ''} {named} of collection {self.collection.name!r} "
                f"{'have' if len(down) > 1 else 'has'} no live data node; retry shortly",
            )
        return [(self.nodes[node_id], shards) for node_id, shards in sorted(by_node.items())]


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
    def __init__(self, coordinator_address: str, log_config: LogConfig, name: str) -> None:
        self.channels = Channels()
        self.coordinator = CoordinatorStub(self.channels.get(coordinator_address))
        self.ids = IdBlock(self.coordinator)
        self._log_config, self._name = log_config, name
        self._log: Log | None = None
        self._strong: StrongReads | None = None
        # The last log position of this client's writes per channel, for Session reads.
        self._written: dict[tuple[int, int], int] = {}
        self._watching = False
        # Bumped by every invalidation: an answer fetched across one is not cached.
        self._generation = 0
        self._collections: dict[str, Collection] = {}
        self._routing: dict[int, Routing] = {}
        self._searches: MicroBatcher[SearchResult] = MicroBatcher(_split_hits)

    async def connect(self) -> None:
        """Connects to the log; raises naming it when it cannot be reached."""
        self._log = await Log.connect(self._log_config, name=self._name)
        self._strong = StrongReads(self._log)

    @property
    def log(self) -> Log:
        assert self._log is not None, "connect() first"
        return self._log

    async def close(self) -> None:
        await self.channels.close()
        if self._log is not None:
            await self._log.close()

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

    def _forget_all(self) -> None:
        self._collections.clear()
        self._routing.clear()

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

    async def drain_node(self, node_id: str, undo: bool = False) -> int:
        """Names a data node draining (its channels move to other data nodes, none moves to
        it), or no longer with `undo`; returns how many channels it still consumes."""
        reply = await call(
            self.coordinator.DrainNode, cpb.DrainRequest(node_id=node_id, undo=undo), peer="coordinator"
        )
        return reply.channels_left

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
        request = dpb.NodeFlushRequest(collection_ids=[collection.id])
        await self._fan_out(collection, lambda stub, scope: stub.Load(request, **_call_options()), consistency=None)

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

    async def create_user(self, user: str, password: str) -> None:
        await call(self.coordinator.CreateUser, cpb.UserRequest(user=user, password=password), peer="coordinator")

    async def update_password(self, user: str, old_password: str, new_password: str) -> None:
        change = cpb.UpdatePasswordRequest(user=user, old_password=old_password, new_password=new_password)
        await call(self.coordinator.UpdatePassword, change, peer="coordinator")

    async def drop_user(self, user: str) -> None:
        await call(self.coordinator.DropUser, cpb.UserRequest(user=user), peer="coordinator")

    async def users(self) -> list[str]:
        reply = await call(self.coordinator.ListUsers, pb.Empty(), peer="coordinator")
        return list(reply.users)

    async def create_api_key(self, user: str) -> str:
        """A new API key acting as `user`, to be shown once: the coordinator keeps its digest."""
        reply = await call(self.coordinator.CreateApiKey, cpb.CreateApiKeyRequest(user=user), peer="coordinator")
        return reply.api_key

    async def flush(self, names: list[str]) -> None:
        await call(
            self.coordinator.Flush, cpb.FlushRequest(collection_names=names), peer="coordinator"
        )

    # -- writes -------------------------------------------------------------------------------

    async def insert(
        self,
        collection: Collection,
        partition_id: int,
        vectors: np.ndarray,
        ids: np.ndarray | None,
        scalars: pa.Table | None = None,
        check_mode: bool = True,
    ) -> np.ndarray:
        """Publishes the rows to their channels; returns their row ids once the log has them.
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
        vectors = np.ascontiguousarray(vectors)
        scalar_bytes = scalars.nbytes / max(scalars.num_rows, 1) if scalars is not None else 0
        rows_per_message = max(1, int(MAX_MESSAGE_BYTES // (vectors[0].nbytes + 8 + scalar_bytes)))
        messages = []
        for shard, rows in _by_shard(ids, collection.shards_num):
            # One channel takes every row as it came: the messages are slices, not copies.
            shard_ids, shard_vectors = (ids, vectors) if rows is None else (ids[rows], vectors[rows])
            shard_scalars = scalars if rows is None or scalars is None else scalars.take(rows)
            for start in range(0, len(shard_ids), rows_per_message):
                end = start + rows_per_message
                part = shard_scalars.slice(start, rows_per_message) if shard_scalars is not None else None
                data = pack_insert(partition_id, shard_ids[start:end], shard_vectors[start:end].data, pack_table(part))
                messages.append((shard, data))
        await self._publish(collection, messages)
        return ids

    async def delete(
        self,
        collection: Collection,
        ids: np.ndarray | None = None,
        filter_text: str = "",
        partition_ids: set[int] | None = None,
    ) -> int:
        """Deletes rows by row id, or the rows a filter matches now (resolved to their ids, so
        a replay of the log deletes exactly those); returns how many ids it deleted."""
        if filter_text:
            ids = (await self.query(collection, partition_ids or set(), filter_text, [], ALL_MATCHES)).ids
        if ids is None or not len(ids):
            return 0
        partitions = sorted(partition_ids or ())
        await self._publish(collection, [
            (shard, pack_delete(partitions, ids if rows is None else ids[rows]))
            for shard, rows in _by_shard(ids, collection.shards_num)
        ])
        return len(ids)

    async def _publish(self, collection: Collection, messages: list[tuple[int, bytes]]) -> None:
        """Publishes the messages of one request (each once, whatever retries happen inside)."""
        request = secrets.token_hex(8)

        async def publish(number: int, shard: int, data: bytes) -> None:
            subject = self.log.channel_subject(collection.id, shard)
            seq = await self.log.publish(subject, data, msg_id=f"{request}.{number}")
            key = (collection.id, shard)
            self._written[key] = max(self._written.get(key, 0), seq)

        await asyncio.gather(*(publish(i, shard, data) for i, (shard, data) in enumerate(messages)))

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
            channels=tuple(Channel.from_proto(c) for c in reply.channels),
            nodes={n.node_id: Node.from_proto(n) for n in reply.nodes},
        )
        if self._cacheable(generation):
            self._routing[collection.id] = routing
        return routing

    def _scope(self, collection: Collection, shards: list[int], consistency: Consistency) -> dpb.ReadScope:
        session = [
            pb.ChannelInfo(collection_id=collection.id, shard=shard, checkpoint=self._written.get((collection.id, shard), 0))
            for shard in shards
        ] if consistency is Consistency.SESSION else []
        return dpb.ReadScope(shards=shards, consistency=int(consistency), session=session)

    async def _fan_out(
        self,
        collection: Collection,
        send: Callable[[DataNodeStub, dpb.ReadScope], Awaitable[Any]],
        consistency: Consistency | None = Consistency.DEFAULT,
    ) -> list[Any]:
        """Sends a request to every node consuming the collection's channels, each with the
        channels it answers for: a read with its consistency, or (None) anything else. A node
        that is unreachable or answers that it cannot serve a channel yet (it just moved, or is
        being restored) is asked again with fresh routing for a few seconds before the caller
        sees the error. A Strong read's freshness is checked alongside the read where it can be
        (quiver/freshness.py)."""
        if consistency is Consistency.DEFAULT:
            consistency = Consistency.named(collection.consistency_level)
        deadline = asyncio.get_running_loop().time() + UNAVAILABLE_RETRY_S
        delay = 0.05
        reading = consistency is not None
        checked = consistency is Consistency.STRONG and self._strong is not None
        while True:
            routing = await self.routing(collection)
            consumers = routing.consumers()
            freshness = None
            if checked and self._strong is not None:
                freshness = self._strong.check(collection.id, (s for _, shards in consumers for s in shards))
            sent = Consistency.EVENTUALLY if freshness is not None or not reading else consistency
            calls = [  # each call is under way once created
                send(DataNodeStub(self.channels.get(node.address)), self._scope(collection, shards, sent))
                for node, shards in consumers
            ]
            if freshness is not None:
                freshness.start()
            replies = await asyncio.gather(*calls, return_exceptions=True)
            unavailable = any(
                isinstance(r, grpc.aio.AioRpcError) or (not isinstance(r, BaseException) and r.status.code == ErrorCode.UNAVAILABLE)
                for r in replies
            )
            if unavailable and asyncio.get_running_loop().time() < deadline:
                self._forget_routing(collection.id)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 0.5)
                continue
            for (node, _), reply in zip(consumers, replies):
                if isinstance(reply, grpc.aio.AioRpcError):
                    raise rpc_error(reply, _peer(node))
                if isinstance(reply, BaseException):
                    raise reply
                check(reply.status)
            if reading and self._strong is not None:
                for reply in replies:
                    self._strong.record(collection.id, reply.applied)
            if freshness is not None:
                fresh = [await freshness.fresh(shards, reply.applied) for (_, shards), reply in zip(consumers, replies)]
                if not all(fresh):
                    metrics.STRONG_READS.labels("stale").inc()
                    checked = False  # read again, each node checking for itself
                    continue
                metrics.STRONG_READS.labels("fresh").inc()
            elif consistency is Consistency.STRONG:
                metrics.STRONG_READS.labels("node").inc()
            return list(replies)

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
        consistency: Consistency = Consistency.DEFAULT,
    ) -> SearchResult:
        """Exact merge of every node's top-k, with the hits' output fields. Concurrent
        searches that differ only in their query vectors share one call to each node."""
        key = (collection.id, collection.version, k, metric.name, tuple(sorted(partition_ids)),
               tuple(sorted(segment_ids)), params_json, filter_text, tuple(output_fields or ()), consistency)

        async def run(batch: np.ndarray) -> SearchResult:
            return await self._search_now(
                collection, batch, k, metric, partition_ids, segment_ids, params_json, filter_text, output_fields,
                consistency,
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
        consistency: Consistency,
    ) -> SearchResult:
        nq = len(queries)
        request = dict(
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
        replies = await self._fan_out(
            collection,
            lambda stub, scope: stub.Search(dpb.SearchRequest(**request, scope=scope), **_call_options()),
            consistency,
        )
        if not replies:
            return SearchResult(*empty_hits(nq, k), None)
        ids = [unpack_ids(r.ids).reshape(nq, k) for r in replies]
        distances = [unpack_distances(r.distances).reshape(nq, k) for r in replies]
        all_ids, all_distances = np.concatenate(ids, axis=1), np.concatenate(distances, axis=1)
        order = topk_order(all_ids, all_distances, k, metric)
        best_ids = np.take_along_axis(all_ids, order, 1)
        best_distances = np.take_along_axis(all_distances, order, 1)
        fields = None
        tables = [unpack_table(r.fields) for r in replies]
        if output_fields and any(t is not None for t in tables):  # None: no node had a segment
            fields = _follow(order, ids, tables, k)
        return SearchResult(best_ids, best_distances, fields)

    async def query(
        self,
        collection: Collection,
        partition_ids: set[int],
        filter_text: str,
        output_fields: list[str],
        limit: int,
        offset: int = 0,
        consistency: Consistency = Consistency.DEFAULT,
    ) -> QueryResult:
        """Rows that pass the filter, ordered by id: how many, and the page asked for."""
        request = dict(
            collection_id=collection.id,
            partition_ids=sorted(partition_ids),
            filter=filter_text,
            output_fields=output_fields,
            limit=offset + limit,
            indexed_fields=_scalar_indexed(collection),
        )
        replies = await self._fan_out(
            collection,
            lambda stub, scope: stub.Query(dpb.QueryRequest(**request, scope=scope), **_call_options()),
            consistency,
        )
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
        self, collection: Collection, ids: np.ndarray, consistency: Consistency = Consistency.DEFAULT
    ) -> dict[int, np.ndarray]:
        packed = pack_ids(ids)
        found: dict[int, np.ndarray] = {}
        layout = collection.layout
        replies = await self._fan_out(
            collection,
            lambda stub, scope: stub.GetVectors(
                dpb.GetVectorsRequest(collection_id=collection.id, ids=packed, scope=scope), **_call_options()
            ),
            consistency,
        )
        for reply in replies:
            vectors = layout.unpack(reply.vectors)
            for row_id, vector in zip(unpack_ids(reply.ids).tolist(), vectors):
                found.setdefault(row_id, vector)
        return found

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
        [segment] = [s for s in routing.segments if s.id == segment_id]
        [node] = [node for node, shards in routing.consumers() if segment.shard in shards]
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


def _by_shard(ids: np.ndarray, shards: int) -> list[tuple[int, np.ndarray | None]]:
    """The positions of the rows of each channel (None: every row, when there is one channel)."""
    if shards == 1:
        return [(0, None)]
    of = shard_of(ids, shards)
    return [(shard, rows) for shard in range(shards) if len(rows := np.flatnonzero(of == shard))]


def _call_options() -> dict[str, Any]:
    return {"timeout": READ_TIMEOUT_S, "metadata": request_metadata()}


def _peer(node: Node) -> str:
    kind = "data node" if node.role is NodeRole.DATA else "node"
    return f"{kind} {node.node_id} at {node.address}"
