"""scripts/check_install_size.py run in the background from the start of the test session.

Most of its minutes are spent waiting on the package index, which the rest of the suite need not
wait for: tests/conftest.py starts it once tests/test_install_size.py is collected, and the test
waits for its result.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_FILE = "tests/test_install_size.py"

_running: tuple[subprocess.Popen[bytes], Path] | None = None


def start() -> None:
    """Starts the check, once; its output goes to a temporary file."""
    global _running
    if _running is not None:
        return
    report = Path(tempfile.mkstemp(prefix="quiver-install-check-", suffix=".log")[1])
    with report.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "check_install_size.py")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    _running = (process, report)


def result(timeout_s: float) -> tuple[int, str]:
    """Waits for the check (starting it when it was not) and returns its exit status and output."""
    start()
    assert _running is not None
    process, report = _running
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return code, report.read_text(errors="replace")


def stop() -> None:
    """Ends a check still running (the session ended without its test) and removes its output."""
    global _running
    if _running is None:
        return
    process, report = _running
    if process.poll() is None:
        process.terminate()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
            process.wait()
    report.unlink(missing_ok=True)
    _running = None
