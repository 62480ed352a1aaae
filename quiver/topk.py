"""Exact merging of per-query top-k lists (segments into a node's answer, nodes into the proxy's).

Hits rank by the metric's order (ascending distance, or descending similarity); equal scores
rank by ascending id, so the answer does not depend on how rows were spread over segments and
nodes. Missing hits are padded with id -1.
"""

from __future__ import annotations

import numpy as np

from quiver.catalogue import Metric

PAD_ID = -1


def empty_hits(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), PAD_ID, dtype=np.int64), np.full((nq, k), np.nan, dtype=np.float32)


def topk_order(ids: np.ndarray, distances: np.ndarray, k: int, metric: Metric) -> np.ndarray:
    """Positions of the best min(k, m) of each row of (nq, m) candidates, best first, so that
    any array parallel to the candidates can follow them."""
    key = np.where(ids == PAD_ID, np.inf, metric.sort_key(distances.astype(np.float64)))
    return np.lexsort((ids, key), axis=-1)[:, :k]  # primary: key, then id


def merge_topk(
    ids: np.ndarray, distances: np.ndarray, k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """Keeps the best k of each row of (nq, m) candidates. Returns (nq, k) ids and distances."""
    nq, m = ids.shape
    if m < k:
        pad_ids, pad_distances = empty_hits(nq, k - m)
        ids = np.concatenate([ids, pad_ids], axis=1)
        distances = np.concatenate([distances, pad_distances], axis=1)
    order = topk_order(ids, distances, k, metric)
    return np.take_along_axis(ids, order, 1), np.take_along_axis(distances, order, 1)


def concat_hits(
    parts: list[tuple[np.ndarray, np.ndarray]], nq: int
) -> tuple[np.ndarray, np.ndarray]:
    """Puts several (nq, k_i) answers side by side as candidates for merge_topk."""
    if not parts:
        return empty_hits(nq, 0)
    return (
        np.concatenate([p[0] for p in parts], axis=1),
        np.concatenate([p[1] for p in parts], axis=1),
    )
