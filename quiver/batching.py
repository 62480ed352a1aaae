"""Micro-batching: concurrent calls with the same key run as one call over all their rows.

Batches form by themselves, with no timer: a call starts at once while fewer than
`max_inflight` batches of its key run; otherwise it waits, and when a batch finishes every
call that waited meanwhile goes out together. A lone caller pays nothing; under load one
gRPC hop and one faiss call serve many searches.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

Result = TypeVar("Result")
# Runs one batch: all rows stacked -> one result covering them.
RunBatch = Callable[[np.ndarray], Awaitable[Result]]
# Cuts a batch's result into each caller's part: (result, [rows of each caller]) -> parts.
Split = Callable[[Result, list[int]], list[Result]]


@dataclass
class _Waiting(Generic[Result]):
    rows: np.ndarray
    future: asyncio.Future[Result]


@dataclass
class _Queue(Generic[Result]):
    waiting: list[_Waiting[Result]] = field(default_factory=list)
    inflight: int = 0


class MicroBatcher(Generic[Result]):
    def __init__(self, split: Split[Result], max_inflight: int = 2, max_rows: int = 256) -> None:
        self._split = split
        self._max_inflight = max_inflight
        self._max_rows = max_rows
        self._queues: defaultdict[Hashable, _Queue[Result]] = defaultdict(_Queue)

    async def call(self, key: Hashable, rows: np.ndarray, run: RunBatch[Result]) -> Result:
        """`run` over `rows`, possibly together with other calls of the same key (whose `run`
        must do the same thing: the key says so)."""
        queue = self._queues[key]
        waiting = _Waiting(rows, asyncio.get_running_loop().create_future())
        queue.waiting.append(waiting)
        if queue.inflight < self._max_inflight:
            queue.inflight += 1
            asyncio.ensure_future(self._drain(key, queue, run))
        return await waiting.future

    async def _drain(self, key: Hashable, queue: _Queue[Result], run: RunBatch[Result]) -> None:
        try:
            while queue.waiting:
                batch = self._take(queue)
                try:
                    result = await run(np.concatenate([w.rows for w in batch]))
                    parts = self._split(result, [len(w.rows) for w in batch])
                except Exception as error:  # every caller of the batch sees it
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(error)
                    continue
                for w, part in zip(batch, parts):
                    if not w.future.done():  # a caller that gave up was cancelled
                        w.future.set_result(part)
        finally:
            queue.inflight -= 1
            if not queue.inflight and not queue.waiting:
                self._queues.pop(key, None)

    def _take(self, queue: _Queue[Result]) -> list[_Waiting[Result]]:
        """The waiting calls, oldest first, up to max_rows (at least one)."""
        taken, rows = [], 0
        while queue.waiting and (not taken or rows + len(queue.waiting[0].rows) <= self._max_rows):
            call = queue.waiting.pop(0)
            taken.append(call)
            rows += len(call.rows)
        return taken
