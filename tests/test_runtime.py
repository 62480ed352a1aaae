"""Role process plumbing: a heap kept small (few malloc heaps, free pages returned), and a
standalone that a taken port stops at once, with one line."""

from __future__ import annotations

import asyncio
import platform
import socket
import sys
from pathlib import Path

import pytest

from quiver import runtime
from quiver.standalone import Child, free_port


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


def processes_naming(text: str) -> list[int]:
    """The pids of the processes whose command line holds `text`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # it exited meanwhile
            pass
    return found


@pytest.mark.parametrize("taken", ["--v1-port", "--http-port"])
async def test_a_taken_rest_port_stops_the_standalone_at_once_with_one_line(tmp_path: Path, taken: str) -> None:
    data_dir = tmp_path / "data"
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        ports = {"--v1-port": str(free_port()), "--http-port": str(free_port()), taken: str(port)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "quiver.cli", "standalone", "--data-dir", str(data_dir),
            *(item for flag_and_port in ports.items() for item in flag_and_port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    what = "Milvus 0.x REST" if taken == "--v1-port" else "REST v2 and managed indexes"
    assert process.returncode == 1 and out == b""
    assert err.decode() == (f"quiver standalone: port {port} (proxy, {what}) is already in use on 127.0.0.1; "
                            f"stop what uses it or pass {taken}\n")
    assert processes_naming(str(data_dir)) == []
