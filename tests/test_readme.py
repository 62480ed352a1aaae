"""The README's quick start, run as written: `quiver standalone` on a new data dir, then each curl
command of the Quick start section in a new bash, one after the other, each response compared
with the `# ...` line the README shows under it.

Two things change between the README and this run, and nothing else: the ports (the test takes
free ones, the README shows the defaults), and the ids Quiver makes. An id in a response the
README shows is bound to the id this run got in its place, and the later commands and responses
take that one; an id in a command must come from an earlier response, so the README's example
ids stay consistent with the example's own output. `...` in a shown response stands for the rest.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from quiver.standalone import free_port

README = Path(__file__).resolve().parent.parent / "README.md"
DEFAULT_PORTS = {"19121": "v1", "19530": "http"}
QUIVER_ID = re.compile(r"\d{19}")  # a row or segment id: 19 digits


@dataclass(frozen=True)
class Example:
    command: str  # continuation lines joined
    shown: str  # the response the README shows under it


def quick_start() -> str:
    return README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]


def on_ports(text: str, ports: dict[str, str]) -> str:
    for default, port in DEFAULT_PORTS.items():
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[port]}")
    return text


def quick_start_examples() -> list[Example]:
    """The curl commands of the README's Quick start section, each with the response shown."""
    examples = []
    for block in re.findall(r"```sh\n(.*?)```", quick_start(), flags=re.DOTALL):
        lines = block.replace("\\\n", " ").splitlines()
        commands = [line for line in lines if line and not line.startswith("#")]
        if not all(command.startswith("curl ") for command in commands):
            continue  # the install and start-up commands: the test starts the cluster itself
        for index, line in enumerate(lines):
            if line.startswith("curl "):
                following = lines[index + 1] if index + 1 < len(lines) else ""
                assert following.startswith("# "), f"the README shows no response for: {line}"
                examples.append(Example(re.sub(r"\s+", " ", line), following[2:]))
    return examples


def matches(shown: str, actual: str, ids: dict[str, str]) -> bool:
    """Whether `actual` is the response `shown`; binds the shown ids not yet bound."""
    pattern, unbound = "", []
    for part in re.split(r"(\.\.\.|\d{19})", shown):
        if part == "...":
            pattern += ".*"
        elif QUIVER_ID.fullmatch(part):
            if part in ids:
                pattern += re.escape(ids[part])
            else:
                unbound.append(part)
                pattern += f"(?P<id{len(unbound) - 1}>\\d+)"
        else:
            pattern += re.escape(part)
    found = re.fullmatch(pattern, actual)
    if found is None:
        return False
    for number, readme_id in enumerate(unbound):
        ids[readme_id] = found[f"id{number}"]
    return True


@pytest.fixture
async def standalone(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """`quiver standalone` in a new data dir, as the README's first command starts it, but for
    the ports; the environment without QUIVER_* settings, as a new shell has it."""
    ports = {"v1": str(free_port()), "http": str(free_port())}
    environment = {name: value for name, value in os.environ.items() if not name.startswith("QUIVER_")}
    quiver = Path(sys.executable).with_name("quiver")
    with open(tmp_path / "standalone.log", "ab") as log:
        process = await asyncio.create_subprocess_exec(
            str(quiver), "standalone", "--data-dir", str(tmp_path / "quiver-data"),
            "--v1-port", ports["v1"], "--http-port", ports["http"],
            stdout=asyncio.subprocess.PIPE, stderr=log, env=environment, cwd=tmp_path,
        )
    try:
        assert process.stdout is not None
        ready = (await asyncio.wait_for(process.stdout.readline(), timeout=120)).decode().strip()
        shown = re.search(r"`(Quiver is ready: [^`]*)`", quick_start())
        assert shown is not None and matches(on_ports(shown[1], ports), ready, {}), ready
        yield ports
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C, as the README says to stop it
        await asyncio.wait_for(process.wait(), timeout=60)


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine: the README's commands need it")
async def test_the_quick_start_answers_as_the_readme_shows(standalone: dict[str, str], tmp_path: Path) -> None:
    examples = quick_start_examples()
    assert len(examples) >= 10, "the Quick start's curl examples were found"
    ids: dict[str, str] = {}
    for example in examples:
        command = on_ports(example.command, standalone)
        for readme_id in QUIVER_ID.findall(command):
            assert readme_id in ids, f"the README's id {readme_id} comes from no earlier response: {example.command}"
            command = command.replace(readme_id, ids[readme_id])
        result = await asyncio.to_thread(
            subprocess.run, ["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert result.returncode == 0, (example.command, result.stderr)
        assert matches(example.shown, result.stdout.strip(), ids), \
            f"{example.command}\n  README: {example.shown}\n  actual: {result.stdout.strip()}"
