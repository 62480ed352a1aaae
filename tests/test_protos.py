"""The committed gRPC stubs are exactly what scripts/generate_protos.py produces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stubs_are_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_protos.py"), "--out", str(tmp_path)], check=True
    )
    generated = {p.name: p.read_text() for p in (tmp_path / "quiver_pb").iterdir() if p.is_file()}
    committed = {p.name: p.read_text() for p in (ROOT / "quiver_pb").iterdir() if p.is_file()}
    assert generated.keys() == committed.keys()
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"stale stubs {stale}: run scripts/generate_protos.py and commit the result"
