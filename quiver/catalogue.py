"""The one catalogue of metrics and index types.

No other module knows metric or index names: the REST surfaces validate against it, data
nodes pick their distance computation and search parameters from it, index nodes pick what to
build from each type's family, and merges take their sort order from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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


# -- index types -------------------------------------------------------------------------------


class Dialect(Enum):
    V1 = "Milvus 0.x"
    V2 = "Milvus 2.x"


class IndexFamily(Enum):
    """What an index node builds and how a data node searches it."""

    BRUTE_FORCE = "brute_force"  # no build: the segment's rows are searched exactly
    IVF = "ivf"  # faiss IndexIVF{Flat,ScalarQuantizer,PQ}
    HNSW = "hnsw"  # faiss IndexHNSWFlat
    NSG = "nsg"  # faiss IndexNSGFlat
    ANNOY = "annoy"  # the annoy library
    BINARY_IVF = "binary_ivf"  # faiss IndexBinaryIVF
    SCALAR = "scalar"  # on a scalar field: speeds up filters, built by the data nodes


class IvfEncoding(Enum):
    FLAT = "flat"
    SQ8 = "sq8"
    PQ = "pq"


TOPK = "topk"  # a Param bound that means "the search's topk"
MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Param:
    """One integer build or search parameter.

    Milvus 0.x requires every parameter it knows (`v1_required`); Milvus 2.x falls back to the
    default. Where the dialects' ranges differ, `v2_range` overrides the range for 2.x.
    """

    name: str
    minimum: int | str
    maximum: int
    default: int | None = None  # None: required in every dialect; raised to the minimum
    v1_required: bool = True
    v2_range: tuple[int | str, int] | None = None

    def bounds(self, dialect: Dialect, topk: int) -> tuple[int, int]:
        low, high = (self.v2_range or (self.minimum, self.maximum)) if dialect is Dialect.V2 else (
            self.minimum, self.maximum
        )
        return (topk if low == TOPK else int(low)), high


@dataclass(frozen=True)
class IndexType:
    name: str
    family: IndexFamily
    vector_kind: VectorKind | None  # None: a scalar index
    metrics: frozenset[str]
    v1_names: tuple[str, ...] = ()
    v2_name: str | None = None
    build_params: tuple[Param, ...] = ()
    search_params: tuple[Param, ...] = ()
    engine_name: str = "IDMAP"  # what Milvus 0.x shows as a segment's index_name
    ivf_encoding: IvfEncoding | None = None
    fixed_build: Mapping[str, int] = field(default_factory=dict)  # AUTOINDEX's chosen HNSW
    needs_gpu: bool = False  # dialect names that Milvus accepted only on GPU builds

    @property
    def is_exact(self) -> bool:
        return self.family is IndexFamily.BRUTE_FORCE

    def builds_for(self, metric_name: str) -> bool:
        """Whether index nodes build it for segments. Binary indexes only speed up HAMMING; the
        other binary metrics are always answered exactly by brute force."""
        if self.is_exact or self.family is IndexFamily.SCALAR:
            return False
        return self.vector_kind is VectorKind.FLOAT or metric_name == "HAMMING"

    def validate_build(self, params: Mapping[str, Any], dialect: Dialect, dim: int) -> dict[str, int]:
        values = _validate(self.build_params, params, dialect, topk=0, what=f"{self.name} index")
        if self.ivf_encoding is IvfEncoding.PQ and dim % values["m"]:
            raise QuiverError(
                ErrorCode.INVALID_DIMENSION,
                f"IVF_PQ parameter m={values['m']} must divide the dimension {dim}",
            )
        return {**values, **self.fixed_build}

    def validate_search(self, params: Mapping[str, Any], dialect: Dialect, topk: int) -> dict[str, int]:
        return _validate(self.search_params, params, dialect, topk, what=f"{self.name} search")


def _validate(
    spec: tuple[Param, ...], given: Mapping[str, Any], dialect: Dialect, topk: int, what: str
) -> dict[str, int]:
    values: dict[str, int] = {}
    for param in spec:
        raw = given.get(param.name)
        low, high = param.bounds(dialect, topk)
        if raw is None:
            if param.default is None or (dialect is Dialect.V1 and param.v1_required):
                raise QuiverError(
                    ErrorCode.INVALID_PARAMETER, f"{what} needs the parameter '{param.name}'"
                )
            values[param.name] = max(param.default, low)
            continue
        value = _integer(raw)
        if value is None or not low <= value <= high:
            raise QuiverError(
                ErrorCode.INVALID_PARAMETER,
                f"{what} parameter '{param.name}'={raw!r} is out of range [{low}, {high}]",
            )
        values[param.name] = value
    return values


def _integer(raw: Any) -> int | None:
    """An int, or a string of one (Milvus 2.x passes parameters as strings too)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    return None


_FLOAT_METRICS = frozenset({"L2", "IP", "COSINE"})
_NLIST = Param("nlist", 1, 65536, default=128)
_NPROBE = Param("nprobe", 1, 65536, default=8)
_EF = Param("ef", TOPK, 32768, default=64)

INDEX_TYPES: dict[str, IndexType] = {
    t.name: t
    for t in (
        IndexType("FLAT", IndexFamily.BRUTE_FORCE, VectorKind.FLOAT, _FLOAT_METRICS,
                  v1_names=("FLAT",), v2_name="FLAT"),
        IndexType("IVF_FLAT", IndexFamily.IVF, VectorKind.FLOAT, _FLOAT_METRICS,
                  v1_names=("IVFFLAT",), v2_name="IVF_FLAT", build_params=(_NLIST,),
                  search_params=(_NPROBE,), engine_name="IVFFLAT", ivf_encoding=IvfEncoding.FLAT),
        IndexType("IVF_SQ8", IndexFamily.IVF, VectorKind.FLOAT, _FLOAT_METRICS,
                  v1_names=("IVFSQ8",), v2_name="IVF_SQ8", build_params=(_NLIST,),
                  search_params=(_NPROBE,), engine_name="IVFSQ8", ivf_encoding=IvfEncoding.SQ8),
        # Milvus 0.x's hybrid CPU/GPU IVFSQ8: the same index, accepted where a GPU is present.
        IndexType("IVF_SQ8_HYBRID", IndexFamily.IVF, VectorKind.FLOAT, _FLOAT_METRICS,
                  v1_names=("IVFSQ8H",), build_params=(_NLIST,), search_params=(_NPROBE,),
                  engine_name="IVFSQ8H", ivf_encoding=IvfEncoding.SQ8, needs_gpu=True),
        IndexType("IVF_PQ", IndexFamily.IVF, VectorKind.FLOAT, _FLOAT_METRICS,
                  v1_names=("IVFPQ",), v2_name="IVF_PQ",
                  build_params=(_NLIST, Param("m", 1, 32768), Param("nbits", 1, 16, default=8, v1_required=False)),
                  search_params=(_NPROBE,), engine_name="PQ", ivf_encoding=IvfEncoding.PQ),
        IndexType("HNSW", IndexFamily.HNSW, VectorKind.FLOAT, _FLOAT_METRICS,
                  v1_names=("HNSW",), v2_name="HNSW",
                  build_params=(Param("M", 4, 64, default=16, v2_range=(2, 2048)),
                                Param("efConstruction", 8, 512, default=200, v2_range=(1, 65536))),
                  search_params=(_EF,), engine_name="HNSW"),
        IndexType("ANNOY", IndexFamily.ANNOY, VectorKind.FLOAT, frozenset({"L2", "IP"}),
                  v1_names=("ANNOY",), build_params=(Param("n_trees", 1, 1024, default=8),),
                  search_params=(Param("search_k", -1, MAX_INT64, default=-1),), engine_name="ANNOY"),
        IndexType("NSG", IndexFamily.NSG, VectorKind.FLOAT, frozenset({"L2", "IP"}),
                  v1_names=("RNSG",),
                  build_params=(Param("search_length", 10, 300, default=40),
                                Param("out_degree", 5, 300, default=30),
                                Param("candidate_pool_size", 50, 1000, default=100),
                                Param("knng", 5, 300, default=50)),
                  search_params=(Param("search_length", 10, 300, default=40),), engine_name="NSG"),
        IndexType("AUTOINDEX", IndexFamily.HNSW, VectorKind.FLOAT, _FLOAT_METRICS,
                  v2_name="AUTOINDEX", search_params=(_EF,), engine_name="HNSW",
                  fixed_build={"M": 18, "efConstruction": 240}),
        IndexType("BIN_FLAT", IndexFamily.BRUTE_FORCE, VectorKind.BINARY,
                  frozenset({"HAMMING", "JACCARD", "TANIMOTO", "SUBSTRUCTURE", "SUPERSTRUCTURE"}),
                  v1_names=("FLAT",), v2_name="BIN_FLAT"),
        IndexType("BIN_IVF_FLAT", IndexFamily.BINARY_IVF, VectorKind.BINARY,
                  frozenset({"HAMMING", "JACCARD", "TANIMOTO"}),
                  v1_names=("IVFFLAT",), v2_name="BIN_IVF_FLAT", build_params=(_NLIST,),
                  search_params=(_NPROBE,), engine_name="IVFFLAT"),
        *(
            IndexType(name, IndexFamily.SCALAR, None, frozenset(), v2_name=name)
            for name in ("INVERTED", "STL_SORT", "Trie", "BITMAP")
        ),
    )
}


def scalar_index_type(name: Any) -> IndexType:
    kind = INDEX_TYPES.get(name) if isinstance(name, str) else None
    if kind is None or kind.family is not IndexFamily.SCALAR:
        raise QuiverError(ErrorCode.INVALID_INDEX_TYPE, f"{name!r} is not a scalar index type")
    return kind


def index_type(name: str) -> IndexType:
    try:
        return INDEX_TYPES[name]
    except KeyError:
        raise QuiverError(ErrorCode.INVALID_INDEX_TYPE, f"unknown index type {name!r}") from None


def index_type_for(name: Any, dialect: Dialect, vector_kind: VectorKind) -> IndexType:
    """The catalogue type a dialect's index name means for a collection's vectors."""
    for t in INDEX_TYPES.values():
        names = t.v1_names if dialect is Dialect.V1 else (t.v2_name,)
        if name in names and t.vector_kind is vector_kind:
            return t
    kind = "binary" if vector_kind is VectorKind.BINARY else "float"
    raise QuiverError(
        ErrorCode.INVALID_INDEX_TYPE, f"index type {name!r} is not supported for {kind} vectors"
    )


def check_metric(t: IndexType, metric_name: str) -> None:
    if metric_name not in t.metrics:
        raise QuiverError(
            ErrorCode.INVALID_METRIC,
            f"index type {t.name} does not support metric {metric_name}; "
            f"it supports {', '.join(sorted(t.metrics))}",
        )
