"""Retrieval over an index: vector search in its collection, optionally combined with BM25.

The query is embedded and searched in the index's collection with the metadata filters inside
the search, so top_k counts only matching chunks. With a full-text weight, the candidates are
also the chunks holding the query's rarest terms, each candidate is scored by BM25 (corpus
statistics counted in the collection) scaled to [0, 1] by the best candidate, and the score is
vector_weight * cosine + full_text_weight * bm25.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from ingestnode import vectors
from ingestnode.fulltext import bm25, distinct_terms
from ingestnode.models import Index
from ingestnode.service import IngestService
from managed.api import MAX_TOP_K
from quiver.catalogue import metric
from quiver.cluster import ClusterClient
from quiver.errors import ErrorCode, QuiverError
from quiver.schema import Collection

EmbedQuery = Callable[[str], Awaitable[np.ndarray]]
MAX_CANDIDATES = 2000
MIN_HYBRID_CANDIDATES = 50
MAX_KEYWORD_TERMS = 8  # the rarest query terms that pick full-text candidates
# Chunk fields static filters may name, and the collection field each one is.
STATIC_FIELDS = {
    "parsed_directory_file_id": vectors.FILE_ID,
    "chunk_index": "chunk_index",
    "page_range_start": "page_start",
    "page_range_end": "page_end",
}
_OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in", "nin": "not in"}
# The operators that test membership, as (the positive operator, negated).
_MEMBERSHIP = {"eq": ("eq", False), "in": ("in", False), "ne": ("eq", True), "nin": ("in", True)}


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str  # one of _OPERATORS
    value: Any
    built_in: bool  # a static field, else a key of the user metadata

    def filter_text(self) -> str:
        if self.built_in:
            return f"{STATIC_FIELDS[self.field]} {_OPERATORS[self.operator]} {vectors.literal(self.value)}"
        target = f"{vectors.METADATA}[{vectors.literal(self.field)}]"
        if self.operator not in _MEMBERSHIP:
            return f"{target} {_OPERATORS[self.operator]} {vectors.literal(self.value)}"
        # User metadata values may be lists of strings: eq/in also match a list holding the value.
        positive, negated = _MEMBERSHIP[self.operator]
        contains = "json_contains_any" if positive == "in" else "json_contains"
        value = vectors.literal(self.value)
        test = f"({target} {_OPERATORS[positive]} {value} or {contains}({target}, {value}))"
        return f"not {test}" if negated else test


@dataclass(frozen=True)
class Query:
    index_id: str
    text: str
    top_k: int
    score_threshold: float | None = None
    num_candidates: int = 0
    vector_weight: float | None = None
    full_text_weight: float | None = None
    conditions: tuple[Condition, ...] = ()
    rerank_top_n: int = 0


@dataclass(frozen=True)
class Hit:
    content: str
    score: float
    metadata: dict[str, Any]
    file_id: str
    chunk_index: int
    start_char: int
    end_char: int
    token_count: int
    page_start: int
    page_end: int
    attachments: tuple[tuple[str, str, str], ...]  # (name, source id, type)


@dataclass
class _Candidate:
    row: dict[str, Any]
    cosine: float
    bm25: float = 0.0


class Retriever:
    def __init__(self, service: IngestService, cluster: ClusterClient, embed_query: EmbedQuery) -> None:
        self.service = service
        self.cluster = cluster
        self.embed_query = embed_query

    async def retrieve(self, project_id: str, query: Query) -> list[Hit]:
        index = await self.service.index(project_id, query.index_id)
        if not index.exports_vectors:
            raise QuiverError(
                ErrorCode.RESOURCE_CONFLICT,
                f"Index {index.id} has vector export disabled (vector_target DISABLED): nothing to retrieve from",
            )
        collection = await self.cluster.collection(index.collection_name)
        full_text = query.full_text_weight or 0.0
        vector = query.vector_weight if query.vector_weight is not None else (1.0 - full_text if full_text else 1.0)
        top_k = min(query.top_k, MAX_TOP_K)
        wanted = query.num_candidates or (max(4 * top_k, MIN_HYBRID_CANDIDATES) if full_text else top_k)
        k = min(max(top_k, wanted), MAX_CANDIDATES)
        where = " and ".join(f"({c.filter_text()})" for c in query.conditions)

        embedded = await self.embed_query(query.text)
        candidates = await self._vector_candidates(collection, embedded, k, where)
        if full_text:
            await self._add_full_text(index, collection, embedded, query.text, k, where, candidates)
        scored = sorted(
            ((vector * c.cosine + full_text * c.bm25, c.row) for c in candidates.values()),
            key=lambda pair: -pair[0],
        )
        if query.score_threshold is not None:
            scored = [(s, r) for s, r in scored if s >= query.score_threshold]
        limit = min(top_k, query.rerank_top_n) if query.rerank_top_n else top_k
        return await self._hits(index, scored[:limit])

    async def _vector_candidates(
        self, collection: Collection, embedded: np.ndarray, k: int, where: str
    ) -> dict[int, _Candidate]:
        found = await self.cluster.search(
            collection, embedded.reshape(1, -1), k, metric(vectors.METRIC), set(), set(),
            vectors.search_params(collection, k), where, vectors.OUTPUT_FIELDS,
        )
        rows = _rows(found.fields)
        hits = [(int(i), float(d)) for i, d in zip(found.ids[0], found.distances[0]) if i >= 0]
        return {row_id: _Candidate(row, cosine) for (row_id, cosine), row in zip(hits, rows)}

    async def _add_full_text(
        self, index: Index, collection: Collection, embedded: np.ndarray, text: str, k: int, where: str,
        candidates: dict[int, _Candidate],
    ) -> None:
        """Adds the chunks holding the query's rarest terms, and gives every candidate its BM25."""
        terms = distinct_terms(text)
        if not terms:
            return
        everything = await self.cluster.query(collection, set(), "", [], limit=0)
        counts = await asyncio.gather(*(
            self.cluster.query(collection, set(), f"array_contains({vectors.TERMS}, {vectors.literal(t)})", [], limit=0)
            for t in terms
        ))
        frequency = {t: c.count for t, c in zip(terms, counts) if c.count}
        rarest = sorted(frequency, key=frequency.__getitem__)[:MAX_KEYWORD_TERMS]
        if rarest:
            holding = f"array_contains_any({vectors.TERMS}, {vectors.literal(rarest)})"
            found = await self.cluster.query(
                collection, set(), f"({where}) and {holding}" if where else holding,
                [*vectors.OUTPUT_FIELDS, "vector"], limit=k,
            )
            for row_id, row in zip(found.ids.tolist(), _rows(found.fields)):
                if row_id not in candidates:
                    stored = np.asarray(row.pop("vector"), dtype=np.float32)
                    candidates[row_id] = _Candidate(row, float(stored @ embedded.reshape(-1)))
        state = await self.service.store.index_state(index.id)
        average = state.token_count / state.chunk_count if state.chunk_count else 0.0

        def score_all() -> list[float]:  # tokenising thousands of chunks: not on the event loop
            return [bm25(terms, c.row[vectors.CONTENT], c.row["token_count"], frequency, everything.count, average)
                    for c in candidates.values()]

        scores = await asyncio.to_thread(score_all)
        best = max(scores, default=0.0)
        for candidate, score in zip(candidates.values(), scores):
            candidate.bm25 = score / best if best > 0 else 0.0

    async def _hits(self, index: Index, scored: list[tuple[float, dict[str, Any]]]) -> list[Hit]:
        stored: dict[str, dict[str, Any]] = {}
        if index.store_attachments:
            for file_id in {row[vectors.FILE_ID] for _, row in scored}:
                stored[file_id] = await self.service.store.attachments(file_id)
        return [_hit(score, row, index.store_attachments, stored.get(row[vectors.FILE_ID], {})) for score, row in scored]


def _rows(table: pa.Table | None) -> list[dict[str, Any]]:
    return table.to_pylist() if table is not None else []


def _hit(score: float, row: dict[str, Any], kinds: tuple[str, ...], stored: dict[str, Any]) -> Hit:
    file_id = row[vectors.FILE_ID]
    attachments = []
    for page in range(row["page_start"], row["page_end"] + 1):
        if "screenshots" in kinds and f"screenshots/page_{page}.png" in stored:
            attachments.append((f"screenshots/page_{page}.png", file_id, "screenshot"))
        if "items" in kinds and f"items/page_{page}.json" in stored:
            attachments.append((f"items/page_{page}.json", file_id, "items"))
    return Hit(
        content=row[vectors.CONTENT],
        score=score,
        metadata=orjson.loads(row[vectors.METADATA]) if row[vectors.METADATA] else {},
        file_id=file_id,
        chunk_index=row["chunk_index"],
        start_char=row["start_char"],
        end_char=row["end_char"],
        token_count=row["token_count"],
        page_start=row["page_start"],
        page_end=row["page_end"],
        attachments=tuple(attachments),
    )
