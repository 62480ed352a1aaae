"""Time-ordered int64 ids, Milvus style: microseconds since the epoch times 1000, plus a count.

An id such as 1578989029645098000 reads as the time it was allocated. The coordinator hands
out blocks from a counter in Redis that never goes below the current time floor, so ids stay
unique across coordinator restarts and stay ordered by time.
"""

from __future__ import annotations

import time

IDS_PER_MICROSECOND = 1000
MAX_ID = 2**63 - 1


def time_floor(now: float | None = None) -> int:
    """The smallest id that belongs to `now` (seconds since the epoch)."""
    seconds = time.time() if now is None else now
    return int(seconds * 1_000_000) * IDS_PER_MICROSECOND


def now_ms() -> int:
    return int(time.time() * 1000)
