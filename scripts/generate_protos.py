"""Regenerates the gRPC stubs in quiver_pb/ from proto/quiver_pb/*.proto.

    python scripts/generate_protos.py [--out DIR]

The .proto files live under a folder named like the package they generate into, so protoc
writes `from quiver_pb import ...` imports that work without post-processing. The generator
(grpcio-tools) must be the same version as the grpcio runtime pinned in pyproject.toml;
tests/test_protos.py regenerates into a temporary folder and fails if the committed stubs differ.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = "quiver_pb"
INIT_TEXT = '"""Generated gRPC stubs for Quiver. Do not edit: run scripts/generate_protos.py."""\n'


def generate(out_dir: Path) -> None:
    runtime, tools = metadata.version("grpcio"), metadata.version("grpcio-tools")
    if runtime != tools:
        sys.exit(f"grpcio-tools {tools} must match the grpcio runtime {runtime}")
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    (out_dir / PACKAGE).mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    (out_dir / PACKAGE / "__init__.py").write_text(INIT_TEXT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="folder that receives quiver_pb/")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
