"""What this machine has: memory, cores, and the GPUs faiss can use."""

from __future__ import annotations

import os
import shutil
import subprocess

import faiss
import psutil

from quiver.ids import now_ms
from quiver.schema import Node, NodeRole

MIB = 1024 * 1024


def gpu_count() -> int:
    """GPUs this process's faiss can use (0 with the CPU build of faiss)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


def gpu_memory_bytes() -> list[int]:
    """Total memory of each GPU faiss can use (0 where nvidia-smi cannot tell)."""
    count = gpu_count()
    if not count:
        return []
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return [0] * count
    out = subprocess.run(
        [smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, timeout=10, check=False,
    ).stdout.split()
    sizes = [int(v) * MIB for v in out if v.isdigit()]
    return (sizes + [0] * count)[:count]


def local_node(node_id: str, role: NodeRole, address: str, use_gpus: bool = True) -> Node:
    """This process as a cluster member, with what its machine has."""
    return Node(
        node_id=node_id,
        role=role,
        address=address,
        started_ms=now_ms(),
        memory_bytes=psutil.virtual_memory().total,
        cpu_count=os.cpu_count() or 1,
        gpu_memory_bytes=tuple(gpu_memory_bytes()) if use_gpus else (),
    )
