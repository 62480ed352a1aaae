"""The data node's window of recent insert tokens: what a retry finds, and for how long."""

from __future__ import annotations

import asyncio

from datanode.tokens import RecentInserts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_pending_request_is_found_as_its_future_and_a_stored_one_as_a_flag() -> None:
    recent = RecentInserts(clock=Clock())
    outcome = recent.pending(7)
    assert recent.get(7) is outcome and not outcome.done()
    outcome.set_result(True)
    recent.stored(7)
    assert recent.get(7) is True
    failed = recent.pending(8)
    failed.set_result(False)
    recent.forget(8)
    assert recent.get(8) is None


async def test_requests_without_a_token_are_never_remembered() -> None:
    recent = RecentInserts(clock=Clock())
    assert isinstance(recent.pending(0), asyncio.Future)
    recent.stored(0)
    assert recent.get(0) is None and len(recent) == 0


def test_tokens_are_kept_for_the_window_then_forgotten() -> None:
    clock = Clock()
    recent = RecentInserts(window_s=300.0, clock=clock)
    recent.stored(1)
    clock.now = 299.0
    recent.stored(2)
    assert recent.get(1) is True
    clock.now = 301.0
    recent.stored(3)  # starts a new generation: 1 and 2 are now the previous one
    assert recent.get(1) is True and recent.get(2) is True
    clock.now = 602.0
    recent.stored(4)  # and another: 1 and 2 are forgotten, over a window old
    assert recent.get(1) is None and recent.get(2) is None
    assert recent.get(3) is True and recent.get(4) is True


def test_memory_stays_under_the_limit_however_fast_requests_come() -> None:
    recent = RecentInserts(window_s=300.0, limit=1000, clock=Clock())
    for token in range(1, 10_001):
        recent.stored(token)
        assert len(recent) <= 1000
    assert all(recent.get(token) is True for token in range(9_501, 10_001))  # the newest half at least
    assert recent.get(1) is None
