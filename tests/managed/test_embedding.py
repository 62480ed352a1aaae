"""The embedding model in this process and in an EmbeddingPool worker.

Loading the model takes several seconds, so this module loads it twice only: once here (the
shared embedder, used by every synchronous test) and once in the pool's worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from managed.embedding import EMBEDDING_DIM, Embedder, EmbeddingPool, shared_embedder

LIGHTHOUSE = "The lighthouse keeper feeds the three cats fresh sardines every morning at dawn."
UNRELATED = [
    "Quarterly revenue grew by four percent in the northern region.",
    "The volcano observatory records seismic tremors every night.",
    "To reset the router, hold the power button for ten seconds.",
    "The recipe needs two cups of flour and a pinch of salt.",
]
QUESTION = "What does the keeper give the cats to eat?"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    model = shared_embedder()
    model.load()
    return model


def chunk_like_texts(count: int) -> list[str]:
    """Distinct texts of about 800 characters, the size the chunker makes by default."""
    sentences = [LIGHTHOUSE, *UNRELATED]
    return [
        f"Passage {n}. " + " ".join(sentences[(n + k) % len(sentences)] for k in range(12))[:780]
        for n in range(count)
    ]


def test_vectors_are_unit_length_float32_rows(embedder: Embedder) -> None:
    vectors = embedder.embed([LIGHTHOUSE, *UNRELATED])
    assert embedder.dim == EMBEDDING_DIM == 384
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_a_question_is_nearest_to_the_sentence_that_answers_it(embedder: Embedder) -> None:
    passages = [*UNRELATED[:2], LIGHTHOUSE, *UNRELATED[2:]]
    scores = embedder.embed(passages) @ embedder.embed([QUESTION])[0]
    assert int(np.argmax(scores)) == 2
    assert scores[2] > 0.5 > max(np.delete(scores, 2))


def test_no_texts_no_vectors() -> None:
    assert Embedder().embed([]).shape == (0, 384)


def test_threads_share_the_embedder_safely(embedder: Embedder) -> None:
    texts = chunk_like_texts(6)
    expected = embedder.embed(texts)
    with ThreadPoolExecutor(max_workers=3) as threads:
        results = list(threads.map(lambda text: embedder.embed([text])[0], texts))
    np.testing.assert_allclose(np.stack(results), expected, atol=1e-5)
    assert shared_embedder() is embedder


async def test_pool_embeds_off_the_event_loop(embedder: Embedder) -> None:
    texts = chunk_like_texts(33)  # two batches: 32 and 1
    expected = embedder.embed([texts[0], texts[-1]])
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    try:
        async with EmbeddingPool(workers=1) as pool:
            started = time.perf_counter()
            vectors = await pool.embed(texts)
            embedding_s = time.perf_counter() - started
            assert (await pool.embed([])).shape == (0, 384)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating

    assert vectors.shape == (33, 384)
    np.testing.assert_allclose(vectors[[0, -1]], expected, atol=1e-5)
    # The worker's start (the model load) and the batches took a while; the loop never stalled
    # for more than a fraction of that.
    assert max(gaps) < min(0.5, embedding_s / 4), f"the event loop stalled for {max(gaps):.2f} s of {embedding_s:.2f} s"
