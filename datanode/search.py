"""Exact (brute-force) search of one segment's rows. Runs in worker threads, never on the loop.

Float metrics go to faiss' blocked BLAS kernels with deleted rows masked by an ID selector
inside the scan. Binary metrics are computed with numpy popcounts over 64-bit words, in row
blocks so temporaries stay small, with the exact formulas of the metric catalogue.
"""

from __future__ import annotations

import faiss
import numpy as np

from quiver.catalogue import Metric, MetricFamily, VectorKind
from quiver.topk import PAD_ID, empty_hits

_BLOCK_ROWS = 65536


class GpuBruteForce:
    """Exact float search on a GPU, for batches of at least `threshold` queries
    (Milvus 0.x's gpu_search_threshold)."""

    def __init__(self, device: int, threshold: int) -> None:
        self.device = device
        self.threshold = threshold
        self._resources = faiss.StandardGpuResources()

    def search(
        self, ids: np.ndarray, vectors: np.ndarray, deleted: np.ndarray, x: np.ndarray, k: int, metric: Metric
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss_metric = faiss.METRIC_L2 if metric.family is MetricFamily.L2 else faiss.METRIC_INNER_PRODUCT
        fetch = min(len(ids), k + int(deleted.sum()))  # the GPU kernel takes no selector
        distances, rows = faiss.knn_gpu(
            self._resources, x, np.ascontiguousarray(vectors), fetch, metric=faiss_metric, device=self.device
        )
        live = (rows >= 0) & ~deleted[np.where(rows >= 0, rows, 0)]
        order = np.argsort(~live, axis=1, kind="stable")[:, :k]
        rows = np.where(np.take_along_axis(live, order, 1), np.take_along_axis(rows, order, 1), PAD_ID)
        return hits_from_rows(ids, rows, np.take_along_axis(distances, order, 1), k)


def search_rows(
    ids: np.ndarray,
    vectors: np.ndarray,
    deleted: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
    gpu: GpuBruteForce | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The best k live rows for each query: (nq, k) ids and distances, padded with id -1."""
    nq = len(queries)
    if len(ids) == 0 or k == 0:
        return empty_hits(nq, k)
    if metric.vector_kind is VectorKind.FLOAT:
        if gpu is not None and nq >= gpu.threshold:
            x = np.ascontiguousarray(queries, dtype=np.float32)
            if metric.family is MetricFamily.COSINE:
                return gpu.search(ids, _normalized(vectors), deleted, _normalized(x), k, metric)
            return gpu.search(ids, vectors, deleted, x, k, metric)
        return _search_float(ids, vectors, deleted, queries, k, metric)
    return _search_binary(ids, vectors, deleted, queries, k, metric)


def _search_float(
    ids: np.ndarray,
    vectors: np.ndarray,
    deleted: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
) -> tuple[np.ndarray, np.ndarray]:
    n, dim = vectors.shape
    nq = len(queries)
    x = np.ascontiguousarray(queries, dtype=np.float32)
    y = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric.family is MetricFamily.COSINE:
        x, y = _normalized(x), _normalized(y)
    keep = None
    selector = None
    if deleted.any():
        keep = np.packbits(~deleted, bitorder="little")
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
    return hits_from_rows(ids, rows, distances, k)


def hits_from_rows(
    ids: np.ndarray, rows: np.ndarray, distances: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers (-1: none) into (nq, k) ids and distances, padded with id -1."""
    found = rows >= 0
    out_ids = np.where(found, ids[np.where(found, rows, 0)], PAD_ID)
    out_distances = np.where(found, distances, np.nan).astype(np.float32)
    if out_ids.shape[1] < k:
        pad_ids, pad_distances = empty_hits(len(out_ids), k - out_ids.shape[1])
        out_ids = np.concatenate([out_ids, pad_ids], axis=1)
        out_distances = np.concatenate([out_distances, pad_distances], axis=1)
    return out_ids, out_distances


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
    deleted: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
) -> tuple[np.ndarray, np.ndarray]:
    words = _words(vectors)
    query_words = _words(queries)
    live = np.flatnonzero(~deleted)
    out_ids, out_distances = empty_hits(len(queries), k)
    for q, query in enumerate(query_words):
        scores = np.empty(len(ids), dtype=np.float32)
        for start in range(0, len(ids), _BLOCK_ROWS):
            block = words[start : start + _BLOCK_ROWS]
            scores[start : start + len(block)] = binary_scores(block, query, metric.family)
        candidates = live
        if metric.is_match:
            candidates = candidates[scores[candidates] == 0.0]
        hit_ids, hit_scores = _best(ids[candidates], scores[candidates], k)
        out_ids[q, : len(hit_ids)] = hit_ids
        out_distances[q, : len(hit_ids)] = hit_scores
    return out_ids, out_distances


def _best(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k lowest scores, ties broken by ascending id."""
    if len(ids) > k:
        kth = np.partition(scores, k - 1)[k - 1]
        keep = scores <= kth
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, scores))[:k]
    return ids[order], scores[order]
