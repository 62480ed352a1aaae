"""Exact (brute-force) search of one segment's rows. Runs in worker threads, or on the event loop
for light searches (see datanode.search).

Float metrics go to faiss' blocked BLAS kernels with excluded rows (deleted, or failing the
filter) masked by an ID selector inside the scan. Binary metrics are computed with numpy
popcounts over 64-bit words, in row blocks so temporaries stay small, with the exact formulas
of the metric catalogue.

Every search answers with row numbers of the segment (-1 where a query has fewer hits) and
their distances; the caller maps rows to ids and output fields.
"""

from __future__ import annotations

import faiss
import numpy as np

from quiver.catalogue import Metric, MetricFamily, VectorKind
from quiver.topk import PAD_ID

_BLOCK_ROWS = 65536


def no_hits(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), PAD_ID, dtype=np.int64), np.full((nq, k), np.nan, dtype=np.float32)


def padded(rows: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (-1: none) and distances widened to k columns; distances of missing rows are NaN."""
    distances = np.where(rows >= 0, distances, np.nan).astype(np.float32)
    if rows.shape[1] < k:
        pad_rows, pad_distances = no_hits(len(rows), k - rows.shape[1])
        rows = np.concatenate([rows, pad_rows], axis=1)
        distances = np.concatenate([distances, pad_distances], axis=1)
    return rows, distances


def drop_excluded(
    rows: np.ndarray, distances: np.ndarray, excluded: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keeps the first k candidates per query that are not excluded, in rank order (for
    searches that cannot mask rows inside the scan and fetched extra candidates instead)."""
    valid = (rows >= 0) & ~excluded[np.where(rows >= 0, rows, 0)]
    order = np.argsort(~valid, axis=1, kind="stable")[:, :k]
    kept = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(rows, order, 1), PAD_ID)
    return kept, np.take_along_axis(distances, order, 1)


class GpuBruteForce:
    """Exact float search on a GPU, for batches of at least `threshold` queries
    (Milvus 0.x's gpu_search_threshold)."""

    def __init__(self, device: int, threshold: int) -> None:
        self.device = device
        self.threshold = threshold
        self._resources = faiss.StandardGpuResources()

    def search(
        self, vectors: np.ndarray, excluded: np.ndarray, x: np.ndarray, k: int, metric: Metric
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss_metric = faiss.METRIC_L2 if metric.family is MetricFamily.L2 else faiss.METRIC_INNER_PRODUCT
        fetch = min(len(vectors), k + int(excluded.sum()))  # the GPU kernel takes no selector
        distances, rows = faiss.knn_gpu(
            self._resources, x, np.ascontiguousarray(vectors), fetch, metric=faiss_metric, device=self.device
        )
        return drop_excluded(rows, distances, excluded, k)


def search_rows(
    ids: np.ndarray,
    vectors: np.ndarray,
    excluded: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
    gpu: GpuBruteForce | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The best k rows per query that are not excluded: (nq, k) rows and distances."""
    nq = len(queries)
    if len(ids) == 0 or k == 0:
        return no_hits(nq, k)
    if metric.vector_kind is VectorKind.BINARY:
        return _search_binary(ids, vectors, excluded, queries, k, metric)
    x = np.ascontiguousarray(queries, dtype=np.float32)
    y = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric.family is MetricFamily.COSINE:
        x, y = _normalized(x), _normalized(y)
    if gpu is not None and nq >= gpu.threshold:
        return padded(*gpu.search(y, excluded, x, k, metric), k)
    return padded(*_search_float(x, y, excluded, k, metric), k)


def _search_float(
    x: np.ndarray, y: np.ndarray, excluded: np.ndarray, k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    n, dim = y.shape
    nq = len(x)
    keep = None
    selector = None
    if excluded.any():
        keep = np.packbits(~excluded, bitorder="little")
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(keep))
    kk = min(k, n)
    distances = np.empty((nq, kk), dtype=np.float32)
    rows = np.empty((nq, kk), dtype=np.int64)
    args = (faiss.swig_ptr(x), faiss.swig_ptr(y), dim, nq, n, kk,
            faiss.swig_ptr(distances), faiss.swig_ptr(rows))
    if metric.family is MetricFamily.L2:
        faiss.knn_L2sqr(*args, None, selector)
    else:
        faiss.knn_inner_product(*args, selector)
    del keep  # the selector read it during the call
    return rows, distances


def _normalized(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms == 0, 1, norms), dtype=np.float32)


def _words(codes: np.ndarray) -> np.ndarray:
    """Views packed bits as the widest unsigned words that divide a row (fewer popcounts)."""
    codes = np.ascontiguousarray(codes)
    width = codes.shape[1]
    for dtype in (np.uint64, np.uint32, np.uint16):
        if width % np.dtype(dtype).itemsize == 0:
            return codes.view(dtype)
    return codes


def binary_scores(words: np.ndarray, query: np.ndarray, family: MetricFamily) -> np.ndarray:
    """Distances (or, for match metrics, 0 for a match and inf otherwise) of every row."""
    if family is MetricFamily.HAMMING:
        return np.bitwise_count(words ^ query).sum(axis=1, dtype=np.int64).astype(np.float32)
    both = np.bitwise_count(words & query).sum(axis=1, dtype=np.int64)
    if family in (MetricFamily.JACCARD, MetricFamily.TANIMOTO):
        either = np.bitwise_count(words | query).sum(axis=1, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            jaccard = np.where(either == 0, 1.0, 1.0 - both / np.maximum(either, 1))
            if family is MetricFamily.JACCARD:
                return jaccard.astype(np.float32)
            return (-np.log2(1.0 - jaccard)).astype(np.float32)
    if family is MetricFamily.SUBSTRUCTURE:  # every bit of the query is set in the row
        matched = both == np.bitwise_count(query).sum(dtype=np.int64)
    else:  # SUPERSTRUCTURE: every bit of the row is set in the query
        matched = both == np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    return np.where(matched, 0.0, np.inf).astype(np.float32)


def _search_binary(
    ids: np.ndarray,
    vectors: np.ndarray,
    excluded: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
) -> tuple[np.ndarray, np.ndarray]:
    words = _words(vectors)
    query_words = _words(queries)
    live = np.flatnonzero(~excluded)
    out_rows, out_distances = no_hits(len(queries), k)
    for q, query in enumerate(query_words):
        scores = np.empty(len(ids), dtype=np.float32)
        for start in range(0, len(ids), _BLOCK_ROWS):
            block = words[start : start + _BLOCK_ROWS]
            scores[start : start + len(block)] = binary_scores(block, query, metric.family)
        candidates = live
        if metric.is_match:
            candidates = candidates[scores[candidates] == 0.0]
        best = _best(candidates, ids[candidates], scores[candidates], k)
        out_rows[q, : len(best)] = best
        out_distances[q, : len(best)] = scores[best]
    return out_rows, out_distances


def _best(rows: np.ndarray, ids: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The rows of the k lowest scores, ties broken by ascending id."""
    if len(rows) > k:
        kth = np.partition(scores, k - 1)[k - 1]
        keep = scores <= kth
        rows, ids, scores = rows[keep], ids[keep], scores[keep]
    return rows[np.lexsort((ids, scores))[:k]]
