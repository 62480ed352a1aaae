"""Builds one segment's index and serialises it. Blocking: runs in a worker thread.

The index's labels are the segment's row numbers. COSINE indexes are inner-product indexes of
normalised vectors. IVF-family indexes train and fill on a GPU when one is given and faiss has
GPU support, then come back to the CPU to be shipped; every other kind builds on the CPU.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import faiss
import numpy as np
from annoy import AnnoyIndex

from quiver.catalogue import IndexFamily, IvfEncoding
from quiver.schema import IndexSpec, VectorLayout

log = logging.getLogger(__name__)


def build(spec: IndexSpec, layout: VectorLayout, vectors: np.ndarray, gpu: int | None = None) -> bytes:
    """The serialised index of `vectors` (rows in segment order). `gpu`: a device to train on."""
    family = spec.catalogue_type.family
    if family is IndexFamily.BINARY_IVF:
        return _binary_ivf(spec, layout, vectors)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if spec.metric_type == "COSINE":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        x = np.ascontiguousarray(x, dtype=np.float32)
    if family is IndexFamily.ANNOY:
        return _annoy(spec, layout, x)
    metric = faiss.METRIC_L2 if spec.metric_type == "L2" else faiss.METRIC_INNER_PRODUCT
    if family is IndexFamily.IVF:
        index = _train_and_add(_ivf(spec, layout.dim, len(x), metric), x, gpu)
    elif family is IndexFamily.HNSW:
        index = faiss.IndexHNSWFlat(layout.dim, spec.params["M"], metric)
        index.hnsw.efConstruction = spec.params["efConstruction"]
        index.add(x)
    elif family is IndexFamily.NSG:
        index = faiss.IndexNSGFlat(layout.dim, spec.params["out_degree"], metric)
        index.GK = min(spec.params["knng"], len(x) - 1)  # the k of the kNN graph it starts from
        index.nsg.L = spec.params["search_length"]
        index.nsg.C = spec.params["candidate_pool_size"]
        index.add(x)
    else:
        raise ValueError(f"{spec.index_type} has nothing to build")
    return faiss.serialize_index(index).tobytes()


def _ivf(spec: IndexSpec, dim: int, rows: int, metric: int) -> faiss.Index:
    # faiss cannot train more lists than it has points; a small segment gets fewer lists.
    nlist = min(spec.params["nlist"], rows)
    quantizer = faiss.IndexFlat(dim, metric)
    encoding = spec.catalogue_type.ivf_encoding
    if encoding is IvfEncoding.FLAT:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
    elif encoding is IvfEncoding.SQ8:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, metric)
    else:
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, spec.params["m"], spec.params["nbits"], metric)
    return index  # faiss' wrapper keeps the quantizer alive as long as the index


def _train_and_add(index: faiss.Index, x: np.ndarray, gpu: int | None) -> faiss.Index:
    """Trains and fills an IVF index, on `gpu` when given; returns it on the CPU."""
    if gpu is None:
        index.train(x)
        index.add(x)
        return index
    resources = faiss.StandardGpuResources()
    on_gpu = faiss.index_cpu_to_gpu(resources, gpu, index)
    on_gpu.train(x)
    on_gpu.add(x)
    return faiss.index_gpu_to_cpu(on_gpu)


def _binary_ivf(spec: IndexSpec, layout: VectorLayout, vectors: np.ndarray) -> bytes:
    codes = np.ascontiguousarray(vectors, dtype=np.uint8)
    nlist = min(spec.params["nlist"], len(codes))
    quantizer = faiss.IndexBinaryFlat(layout.dim)
    index = faiss.IndexBinaryIVF(quantizer, layout.dim, nlist)
    index.train(codes)
    index.add(codes)
    return faiss.serialize_index_binary(index).tobytes()


def _annoy(spec: IndexSpec, layout: VectorLayout, x: np.ndarray) -> bytes:
    index = AnnoyIndex(layout.dim, "dot" if spec.metric_type == "IP" else "euclidean")
    for row, vector in enumerate(x):
        index.add_item(row, vector)
    index.build(spec.params["n_trees"], n_jobs=-1)
    with tempfile.TemporaryDirectory(prefix="quiver-annoy-") as tmp:
        path = Path(tmp) / "index.ann"
        index.save(str(path))
        index.unload()
        return path.read_bytes()
