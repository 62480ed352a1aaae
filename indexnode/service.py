"""The index node's logic. Builds arrive with the index pipeline; for now it reports what it has."""

from __future__ import annotations

import faiss


def gpu_count() -> int:
    """GPUs this node's faiss can use (0 with the CPU build of faiss)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0
