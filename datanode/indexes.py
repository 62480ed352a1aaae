"""Built indexes on a data node: files beside the segment, loading them, searching them.

An index is searched with its labels being the segment's row numbers. Deleted rows are masked
inside the search where faiss takes an ID selector (IVF, HNSW); the other kinds fetch enough
extra candidates to cover every deleted row and drop them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import orjson
from annoy import AnnoyIndex

from datanode.storage import write_atomically
from quiver.catalogue import Dialect, IndexFamily, IndexType, Metric, MetricFamily
from quiver.schema import IndexSpec, VectorLayout
from datanode.exact import drop_excluded, padded
from quiver.topk import PAD_ID

INDEX_PREFIX = "index-"


@dataclass(frozen=True)
class LoadedIndex:
    spec: IndexSpec
    kind: IndexType
    engine: Any  # faiss.Index, faiss.IndexBinary or annoy.AnnoyIndex
    nbytes: int  # its size on disk: what the node's cache counts for it
    # NSG takes its search depth as an attribute of the index, not a per-call parameter.
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> int:
        return self.spec.version


def data_path(directory: Path, version: int) -> Path:
    return directory / f"{INDEX_PREFIX}{version}.bin"


def spec_path(directory: Path, version: int) -> Path:
    return directory / f"{INDEX_PREFIX}{version}.json"


def save_spec(directory: Path, spec: IndexSpec) -> None:
    """Written after the data file: a spec file means the index is complete on disk."""
    data = orjson.dumps({**spec.__dict__})
    write_atomically(spec_path(directory, spec.version), lambda p: p.write_bytes(data))


def newest_on_disk(directory: Path) -> IndexSpec | None:
    specs = [
        IndexSpec(**orjson.loads(p.read_bytes()))
        for p in directory.glob(f"{INDEX_PREFIX}*.json")
        if data_path(directory, int(p.stem[len(INDEX_PREFIX) :])).exists()
    ]
    return max(specs, key=lambda s: s.version, default=None)


def remove_files(directory: Path, keep_version: int) -> None:
    """Deletes the segment's index files, but those of `keep_version` (0: keeps none)."""
    keep = {data_path(directory, keep_version), spec_path(directory, keep_version)}
    for path in directory.glob(f"{INDEX_PREFIX}*"):
        if path not in keep:
            path.unlink(missing_ok=True)


def remove_older(directory: Path, version: int) -> None:
    """Deletes the files of the segment's indexes older than `version` (newer ones may be
    arriving)."""
    for path in directory.glob(f"{INDEX_PREFIX}*"):
        if int(path.name[len(INDEX_PREFIX) :].split(".")[0]) < version:
            path.unlink(missing_ok=True)


def remove_version(directory: Path, version: int) -> None:
    spec_path(directory, version).unlink(missing_ok=True)  # first: the data alone is no index
    data_path(directory, version).unlink(missing_ok=True)


def load(directory: Path, spec: IndexSpec, layout: VectorLayout) -> LoadedIndex:
    kind = spec.catalogue_type
    path = data_path(directory, spec.version)
    if kind.family is IndexFamily.ANNOY:
        engine = AnnoyIndex(layout.dim, _annoy_metric(spec.metric_type))
        engine.load(str(path))  # memory-mapped
    elif kind.family is IndexFamily.BINARY_IVF:
        engine = faiss.read_index_binary(str(path))
    else:
        engine = faiss.read_index(str(path))
    return LoadedIndex(spec, kind, engine, path.stat().st_size)


def _annoy_metric(metric_type: str) -> str:
    return "dot" if metric_type == "IP" else "euclidean"


def search(
    index: LoadedIndex,
    excluded: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
    params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """The best k rows per query by the index, excluded rows left out: (nq, k) rows (-1
    padded) and distances."""
    n = len(excluded)
    values = index.kind.validate_search(params, Dialect.V2, k)
    family = index.kind.family
    x = np.ascontiguousarray(queries)
    if metric.family is MetricFamily.COSINE:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        x = np.ascontiguousarray(x, dtype=np.float32)
    if family in (IndexFamily.IVF, IndexFamily.HNSW):
        rows, distances = _faiss_with_selector(index, x, min(k, n), excluded, values)
    else:
        # Enough candidates that k rows remain once the excluded ones are dropped.
        fetch = min(n, k + int(excluded.sum()))
        if family is IndexFamily.NSG:
            with index.lock:
                index.engine.nsg.search_L = max(values["search_length"], fetch)
                distances, rows = index.engine.search(x, fetch)
        elif family is IndexFamily.ANNOY:
            rows, distances = _annoy(index.engine, x, fetch, values["search_k"], metric)
        else:  # BINARY_IVF
            distances, rows = index.engine.search(
                x, fetch, params=faiss.SearchParametersIVF(nprobe=values["nprobe"])
            )
        rows, distances = drop_excluded(rows, distances.astype(np.float32), excluded, k)
    return padded(rows, distances, k)


def _faiss_with_selector(
    index: LoadedIndex, x: np.ndarray, k: int, excluded: np.ndarray, values: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    keep = np.packbits(~excluded, bitorder="little") if excluded.any() else None
    selector = faiss.IDSelectorBitmap(len(excluded), faiss.swig_ptr(keep)) if keep is not None else None
    if index.kind.family is IndexFamily.HNSW:
        params = faiss.SearchParametersHNSW(efSearch=values["ef"])
    else:
        params = faiss.SearchParametersIVF(nprobe=values["nprobe"])
    if selector is not None:
        params.sel = selector
    distances, rows = index.engine.search(x, k, params=params)
    del keep  # read by the selector during the search
    return rows, distances


def _annoy(
    engine: AnnoyIndex, x: np.ndarray, k: int, search_k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.full((len(x), k), PAD_ID, dtype=np.int64)
    distances = np.full((len(x), k), np.nan, dtype=np.float32)
    for q, vector in enumerate(x):
        found, dist = engine.get_nns_by_vector(vector.tolist(), k, search_k, include_distances=True)
        rows[q, : len(found)] = found
        dist_array = np.asarray(dist, dtype=np.float32)
        # Annoy's euclidean distance is the root of what the L2 metric reports.
        distances[q, : len(found)] = dist_array**2 if metric.family is MetricFamily.L2 else dist_array
    return rows, distances
