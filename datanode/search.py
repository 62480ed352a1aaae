"""Searches, queries and lookups over snapshots of a data node's segments.

Each segment is searched by its index where it has one that serves the request, else exactly
(datanode.exact), with deleted rows and rows failing the filter excluded inside the search;
the per-segment answers are merged exactly. Runs in worker threads, or on the event loop when
the work is light enough that a handoff would cost as much.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import pyarrow as pa

from datanode import indexes, storage
from datanode.exact import GpuBruteForce, search_rows
from datanode.segments import LocalSegment, Snapshot
from quiver.catalogue import IndexFamily, Metric
from quiver.filters import Filter
from quiver.schema import SegmentState
from quiver.topk import PAD_ID, empty_hits, topk_order


@dataclass(frozen=True)
class Hits:
    """A node's answer to a search: (nq, k) ids and distances (-1 padded), and the output
    fields of the hits whose id is not -1, in order (None when none were asked for)."""

    ids: np.ndarray
    distances: np.ndarray
    fields: pa.Table | None


@dataclass(frozen=True)
class SearchTask:
    queries: np.ndarray
    k: int
    metric: Metric
    params: dict[str, Any]
    condition: Filter | None
    output_fields: list[str]
    gpu: GpuBruteForce | None
    indexed_fields: frozenset[str]

    def is_light(self, snapshots: list[Snapshot]) -> bool:
        """A few plain queries over little data (well under a millisecond of work): handing
        them to a worker thread would cost about as much as running them."""
        if self.condition is not None or self.output_fields or self.gpu is not None or len(self.queries) > 8:
            return False
        scanned = 0  # rows compared, as if each was read once
        for s in snapshots:
            if s.index is None:
                scanned += len(s.ids)
            elif s.index.kind.family is IndexFamily.HNSW:
                scanned += HNSW_SCAN_ROWS
            else:
                return False
        return scanned * len(self.queries) * self.queries.shape[1] <= LIGHT_SEARCH_WORK

    def run(self, snapshots: list[Snapshot]) -> Hits:
        """Searches every segment (rows failing the filter excluded inside the search), then
        merges exactly; runs in a worker thread."""
        nq, k = len(self.queries), self.k
        # OpenMP threads per call (a per-thread setting): a few queries run best on this
        # thread alone, as concurrent searches already keep the cores busy; a big batch of
        # queries splits across the cores.
        faiss.omp_set_num_threads(1 if nq < PARALLEL_QUERIES else CORES)
        if not snapshots:
            return Hits(*empty_hits(nq, k), None)
        ids, distances, which, rows = [], [], [], []
        for i, s in enumerate(snapshots):
            excluded = excluded_rows(s, self.condition, self.indexed_fields)
            found, d = self._search_segment(s, excluded)
            ids.append(np.where(found >= 0, s.ids[np.where(found >= 0, found, 0)], PAD_ID))
            distances.append(d)
            which.append(np.full(found.shape, i))
            rows.append(found)
        columns = [np.concatenate(c, axis=1) for c in (ids, distances, which, rows)]
        order = topk_order(columns[0], columns[1], k, self.metric)
        best_ids, best_distances, best_which, best_rows = (np.take_along_axis(c, order, 1) for c in columns)
        fields = None
        if self.output_fields:
            hit = best_ids.reshape(-1) != PAD_ID
            fields = gather(snapshots, best_which.reshape(-1)[hit], best_rows.reshape(-1)[hit], self.output_fields)
        return Hits(best_ids, best_distances, fields)

    def _search_segment(self, s: Snapshot, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.k
        passing = len(excluded) - int(np.count_nonzero(excluded))
        index_serves = (
            s.index is not None
            and s.index.spec.metric_type == self.metric.name
            and passing >= EXACT_BELOW_PASSING_SHARE * len(excluded)
        )
        if not index_serves:  # growing, small, not built yet, another metric, or a narrow filter
            return search_rows(s.ids, s.vectors, excluded, self.queries, k, self.metric, self.gpu)
        found, d = indexes.search(s.index, excluded, self.queries, k, self.metric, self.params)
        # A masked graph or IVF search can stop short of k hits although k rows pass: those
        # queries are answered exactly, so a search never returns fewer hits than exist.
        short = np.count_nonzero(found >= 0, axis=1) < min(k, passing)
        if short.any():
            found[short], d[short] = search_rows(
                s.ids, s.vectors, excluded, self.queries[short], k, self.metric, self.gpu
            )
        return found, d


# Searches that compare fewer (rows x queries x dimensions) than this run on the event loop: about
# half a millisecond here, as long as a handoff to a worker thread and back.
LIGHT_SEARCH_WORK = 2_000_000
# About the rows one HNSW search compares (ef 64 candidates, each with M 16 neighbours, and more).
HNSW_SCAN_ROWS = 2048

# Searches with fewer queries run single-threaded (see SearchTask.run).
PARALLEL_QUERIES = 64
CORES = len(os.sched_getaffinity(0))

# A filter passing fewer rows than this share of a segment is answered exactly: graph and IVF
# searches lose recall (HNSW can even return fewer than k hits) when most rows are masked, and
# scanning the few rows that pass is cheap.
EXACT_BELOW_PASSING_SHARE = 0.1


def excluded_rows(snapshot: Snapshot, condition: Filter | None, indexed: frozenset[str] = frozenset()) -> np.ndarray:
    """Rows a search or query must not return: deleted, or failing the filter (answered by
    the segment's scalar indexes where the fields have one)."""
    if condition is None:
        return snapshot.deleted
    indexes = {}
    for name in indexed & condition.columns:
        found = snapshot.scalar_index(name)
        if found is not None:
            indexes[name] = found
    return snapshot.deleted | ~condition.evaluate(snapshot.columns(condition.columns), indexes)


def gather(snapshots: list[Snapshot], which: np.ndarray, rows: np.ndarray, names: list[str]) -> pa.Table:
    """The named fields of (segment, row) pairs, in their order."""
    pieces, positions = [], []
    for i, snapshot in enumerate(snapshots):
        mine = np.flatnonzero(which == i)
        if len(mine):
            pieces.append(snapshot.columns(names).take(rows[mine]))
            positions.append(mine)
    if not pieces:
        return snapshots[0].columns(names).slice(0, 0)
    return pa.concat_tables(pieces).take(np.argsort(np.concatenate(positions), kind="stable"))


def query_rows(
    snapshots: list[Snapshot],
    condition: Filter | None,
    output_fields: list[str],
    limit: int,
    indexed: frozenset[str],
) -> tuple[int, np.ndarray, pa.Table | None]:
    matches = [np.flatnonzero(~excluded_rows(s, condition, indexed)) for s in snapshots]
    count = sum(len(m) for m in matches)
    ids = np.concatenate([s.ids[m] for s, m in zip(snapshots, matches)])
    which = np.concatenate([np.full(len(m), i) for i, m in enumerate(matches)])
    rows = np.concatenate(matches)
    first = np.argsort(ids, kind="stable")[:limit]
    fields = gather(snapshots, which[first], rows[first], output_fields) if output_fields else None
    return count, ids[first], fields


def matching_ids(snapshots: list[Snapshot], condition: Filter, indexed: frozenset[str]) -> np.ndarray:
    return np.unique(np.concatenate([s.ids[~excluded_rows(s, condition, indexed)] for s in snapshots]))




def rows_of(segment: LocalSegment, rows: np.ndarray) -> tuple[np.ndarray, pa.Table | None]:
    """Some rows' vectors and scalar columns: from memory when resident, else from the file."""
    if segment.is_resident or segment.state is not SegmentState.FLUSHED:
        snapshot = segment.snapshot()
        vectors, scalars = snapshot.vectors, snapshot.scalars
    else:
        stored = storage.read_rows(segment.directory, segment.meta.layout)
        vectors, scalars = stored.vectors, stored.scalars if segment.has_scalars else None
    return vectors[rows], scalars.take(rows) if scalars is not None else None


def _vectors_of(segment: LocalSegment, rows: np.ndarray) -> np.ndarray:
    return rows_of(segment, rows)[0]


def page(segment: LocalSegment, offset: int, limit: int) -> tuple[int, np.ndarray, np.ndarray]:
    ids, _, deleted = segment.ids_and_deletes()
    live = np.flatnonzero(~deleted)
    page = live[offset : offset + limit]
    return len(live), ids[page], _vectors_of(segment, page)


def lookup(segments: list[LocalSegment], wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found_ids, found_lsns, found_vectors = [], [], []
    for segment in segments:
        ids, lsns, deleted = segment.ids_and_deletes()
        rows = np.flatnonzero(np.isin(ids, wanted) & ~deleted)
        if len(rows):
            found_ids.append(ids[rows])
            found_lsns.append(lsns[rows])
            found_vectors.append(_vectors_of(segment, rows))
    if not found_ids:
        return np.empty(0, dtype=np.int64), np.empty((0, 0))
    ids = np.concatenate(found_ids)
    lsns = np.concatenate(found_lsns)
    vectors = np.concatenate(found_vectors)
    newest_first = np.lexsort((-lsns, ids))
    ids, vectors = ids[newest_first], vectors[newest_first]
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    return ids[first], vectors[first]
