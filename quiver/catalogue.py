"""The one catalogue of metrics (and, with index builds, index types).

No other module knows metric names: surfaces validate against it, data nodes pick their
distance computation from it, and merges take their sort order from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from quiver.errors import ErrorCode, QuiverError


class VectorKind(Enum):
    FLOAT = "float"  # float32 components
    BINARY = "binary"  # bits, packed 8 per byte


class MetricFamily(Enum):
    L2 = "l2"  # squared Euclidean distance
    INNER_PRODUCT = "inner_product"  # raw dot product
    COSINE = "cosine"  # dot product of normalised vectors
    HAMMING = "hamming"  # popcount(a xor b)
    JACCARD = "jaccard"  # 1 - |a and b| / |a or b|
    TANIMOTO = "tanimoto"  # -log2(1 - jaccard)
    SUBSTRUCTURE = "substructure"  # match: the query's bits are all set in the row
    SUPERSTRUCTURE = "superstructure"  # match: the row's bits are all set in the query


@dataclass(frozen=True)
class Metric:
    name: str
    family: MetricFamily
    vector_kind: VectorKind
    higher_is_better: bool = False  # similarity (sort descending) rather than distance
    is_match: bool = False  # a filter: every hit has distance 0, ordered by id

    def sort_key(self, distances):  # type: ignore[no-untyped-def]
        """Ascending key for ranking hits (works on numpy arrays and floats)."""
        return -distances if self.higher_is_better else distances


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("L2", MetricFamily.L2, VectorKind.FLOAT),
        Metric("IP", MetricFamily.INNER_PRODUCT, VectorKind.FLOAT, higher_is_better=True),
        Metric("COSINE", MetricFamily.COSINE, VectorKind.FLOAT, higher_is_better=True),
        Metric("HAMMING", MetricFamily.HAMMING, VectorKind.BINARY),
        Metric("JACCARD", MetricFamily.JACCARD, VectorKind.BINARY),
        Metric("TANIMOTO", MetricFamily.TANIMOTO, VectorKind.BINARY),
        Metric("SUBSTRUCTURE", MetricFamily.SUBSTRUCTURE, VectorKind.BINARY, is_match=True),
        Metric("SUPERSTRUCTURE", MetricFamily.SUPERSTRUCTURE, VectorKind.BINARY, is_match=True),
    )
}

# The metrics a Milvus 0.x collection may be created with.
V1_METRICS = ("L2", "IP", "HAMMING", "JACCARD", "TANIMOTO", "SUBSTRUCTURE", "SUPERSTRUCTURE")


def metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise QuiverError(ErrorCode.INVALID_METRIC, f"unknown metric type: {name!r}") from None
