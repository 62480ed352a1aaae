"""Role process plumbing that keeps a role's heap small: few malloc heaps, free pages returned."""

from __future__ import annotations

import asyncio
import platform
import sys
from pathlib import Path

import pytest

from quiver import runtime
from quiver.standalone import Child


async def test_free_memory_is_returned_periodically_until_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1

    monkeypatch.setattr(runtime, "return_free_memory", counted)
    stop = asyncio.Event()
    trimming = asyncio.create_task(runtime.return_free_memory_periodically(stop, interval_s=0.05))
    await asyncio.sleep(0.3)
    assert calls >= 3
    stop.set()
    await asyncio.wait_for(trimming, timeout=1.0)  # stops at once, not after another interval
    settled = calls
    await asyncio.sleep(0.1)
    assert calls == settled


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_malloc_trim_is_found() -> None:
    assert runtime._malloc_trim() is not None
    runtime.return_free_memory()


async def test_supervised_roles_start_with_few_malloc_heaps(tmp_path: Path) -> None:
    child = Child("probe", [sys.executable, "-c", "import os; print(os.environ['MALLOC_ARENA_MAX'])"],
                  tmp_path / "probe.log")
    await child.start()
    assert child.process is not None and await child.process.wait() == 0
    assert (tmp_path / "probe.log").read_text().strip() == runtime.ALLOCATOR_ENVIRONMENT["MALLOC_ARENA_MAX"]
