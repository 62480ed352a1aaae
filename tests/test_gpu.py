"""The GPU build path: runs only where faiss sees a GPU."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexnode.builder import build
from quiver.devices import gpu_count
from quiver.catalogue import VectorKind
from quiver.schema import IndexSpec, VectorLayout

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(gpu_count() == 0, reason="faiss sees no GPU (faiss-cpu, or no device)"),
]


@pytest.mark.parametrize("index_type", ["IVF_FLAT", "IVF_SQ8", "IVF_PQ"])
def test_ivf_built_on_the_gpu_searches_like_the_cpu_build(index_type: str) -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((20000, 64)).astype(np.float32)
    queries = rng.standard_normal((100, 64)).astype(np.float32)
    params = {"nlist": 128, "m": 16, "nbits": 8} if index_type == "IVF_PQ" else {"nlist": 128}
    spec = IndexSpec("vector", index_type, "L2", params)
    layout = VectorLayout(VectorKind.FLOAT, 64)
    truth = faiss.knn(queries, base, 10)[1]

    def recall(data: bytes) -> float:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        found = index.search(queries, 10, params=faiss.SearchParametersIVF(nprobe=16))[1]
        return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))

    on_gpu, on_cpu = recall(build(spec, layout, base, gpu=0)), recall(build(spec, layout, base))
    assert on_gpu >= on_cpu - 0.02
