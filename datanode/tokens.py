"""The outcomes of recent insert requests, by the token the proxy gives each one, so that a retry
(after a lost reply, here or before a restart) is acknowledged without storing its rows twice.

Retries come within seconds, so only recent tokens are kept: in two generations, the current one
and the one before it. A new generation starts when the current one is `window_s` old or holds
half of `limit` tokens, and the one before it is then forgotten. A token is therefore remembered
for at least `window_s` (or the next `limit / 2` requests) and memory stays flat under a steady
load instead of filling up to `limit`. Token 0 is a request without one: never remembered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

Outcome = asyncio.Future[bool] | bool  # a future while the rows are being stored; True once stored


class RecentInserts:
    def __init__(self, window_s: float = 300.0, limit: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self.limit, self._clock = window_s, limit, clock
        self._current: dict[int, Outcome] = {}
        self._previous: dict[int, Outcome] = {}
        self._started = clock()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def get(self, token: int) -> Outcome | None:
        if not token:
            return None
        found = self._current.get(token)
        return found if found is not None else self._previous.get(token)

    def pending(self, token: int) -> asyncio.Future[bool]:
        """Registers a request being stored now; its future tells a concurrent retry the outcome."""
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if token:
            self._put(token, outcome)
        return outcome

    def stored(self, token: int) -> None:
        """The request's rows are stored (or, in a replay, were): retries are acknowledged."""
        if not token:
            return
        for generation in (self._current, self._previous):
            if token in generation:
                generation[token] = True  # a bare flag takes half the memory of a future
                return
        self._put(token, True)

    def forget(self, token: int) -> None:
        """The request failed: a retry must store its rows."""
        self._current.pop(token, None)
        self._previous.pop(token, None)

    def _put(self, token: int, outcome: Outcome) -> None:
        now = self._clock()
        if now - self._started >= self.window_s or len(self._current) >= self.limit // 2:
            self._previous, self._current, self._started = self._current, {}, now
        self._current[token] = outcome
