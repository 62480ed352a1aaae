"""Benchmark data the tests and benchmarks share: siftsmall, beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def siftsmall_dir() -> Path:
    """`QUIVER_SIFTSMALL_DIR`, else `shared/data/siftsmall` beside the repository."""
    configured = os.environ.get("QUIVER_SIFTSMALL_DIR")
    return Path(configured) if configured else ROOT.parent / "shared" / "data" / "siftsmall"


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    """fvecs/ivecs: each row is an int32 dimension followed by that many values."""
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


def load_siftsmall() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base 10000x128, queries 100x128, ground truth 100x100 row numbers), or a clear skip."""
    directory = siftsmall_dir()
    if not (directory / "siftsmall_base.fvecs").exists():
        pytest.skip(f"siftsmall not found in {directory} (set QUIVER_SIFTSMALL_DIR)")
    return (
        read_vecs(directory / "siftsmall_base.fvecs", "float32"),
        read_vecs(directory / "siftsmall_query.fvecs", "float32"),
        read_vecs(directory / "siftsmall_groundtruth.ivecs", "int32"),
    )


def recall_at(found: list[list[int]], truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]))
