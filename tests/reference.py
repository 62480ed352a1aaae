"""Brute-force answers computed with numpy, to hold the cluster's results against."""

from __future__ import annotations

import numpy as np


def float_distances(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    base64, queries64 = base.astype(np.float64), queries.astype(np.float64)
    if metric == "L2":
        return ((queries64[:, None, :] - base64[None, :, :]) ** 2).sum(axis=2)
    if metric == "IP":
        return queries64 @ base64.T
    raise ValueError(metric)


def binary_distances(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """(nq, n) distances on packed bytes; match metrics give 0 for a match and inf otherwise."""
    both = np.bitwise_count(queries[:, None, :] & base[None, :, :]).sum(axis=2)
    either = np.bitwise_count(queries[:, None, :] | base[None, :, :]).sum(axis=2)
    if metric == "HAMMING":
        return np.bitwise_count(queries[:, None, :] ^ base[None, :, :]).sum(axis=2).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.where(either == 0, 1.0, 1.0 - both / np.maximum(either, 1))
    if metric == "JACCARD":
        return jaccard.astype(np.float32)
    if metric == "TANIMOTO":
        with np.errstate(divide="ignore"):
            return (-np.log2(1.0 - jaccard)).astype(np.float32)
    query_bits = np.bitwise_count(queries).sum(axis=1)[:, None]
    base_bits = np.bitwise_count(base).sum(axis=1)[None, :]
    if metric == "SUBSTRUCTURE":
        return np.where(both == query_bits, 0.0, np.inf).astype(np.float32)
    if metric == "SUPERSTRUCTURE":
        return np.where(both == base_bits, 0.0, np.inf).astype(np.float32)
    raise ValueError(metric)


def top_k(
    distances: np.ndarray, ids: np.ndarray, k: int, descending: bool = False, drop_inf: bool = False
) -> list[list[tuple[int, float]]]:
    """Per query: the best k (id, distance), ties broken by ascending id."""
    out = []
    for row in distances:
        key = -row if descending else row
        order = np.lexsort((ids, key))
        hits = [(int(ids[j]), float(row[j])) for j in order[:k] if not (drop_inf and np.isinf(row[j]))]
        out.append(hits)
    return out


def assert_same_hits(
    got: list[list[tuple[int, float]]],
    expected: list[list[tuple[int, float]]],
    rel_tol: float = 1e-4,
    abs_tol: float = 1e-5,
) -> None:
    """Same ids in the same order and the same distances (6-decimal strings on the wire).

    Float distances come from different summation orders (faiss BLAS vs numpy), so two hits
    whose true distances are within the tolerance may be listed either way round.
    """
    assert len(got) == len(expected)
    for q, (hits, want) in enumerate(zip(got, expected)):
        assert len(hits) == len(want), f"query {q}: {len(hits)} hits, expected {len(want)}"
        for (got_id, got_d), (want_id, want_d) in zip(hits, want):
            tol = max(abs_tol, rel_tol * abs(want_d), 1e-6)
            assert abs(got_d - want_d) <= tol + 5e-7, f"query {q}: distance {got_d} != {want_d}"
        got_ids, want_ids = [h[0] for h in hits], [w[0] for w in want]
        if got_ids != want_ids:
            _assert_only_near_ties_differ(hits, want, rel_tol, abs_tol, q)


def _assert_only_near_ties_differ(hits, want, rel_tol, abs_tol, q) -> None:  # type: ignore[no-untyped-def]
    for i, ((got_id, _), (want_id, want_d)) in enumerate(zip(hits, want)):
        if got_id == want_id:
            continue
        tied = [w_id for w_id, d in want if abs(d - want_d) <= max(abs_tol, rel_tol * abs(want_d))]
        assert got_id in tied, f"query {q} rank {i}: got id {got_id}, expected {want_id}"
