"""Configuration helpers: every flag of a role can also come from a QUIVER_* environment variable.

Each role turns its flags into a frozen dataclass in its __main__; nothing reads the
environment after start-up.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from quiver.logs import LOG_FORMATS

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_COORDINATOR = "127.0.0.1:19100"


def env(name: str, default: str) -> str:
    return os.environ.get(f"QUIVER_{name}", default)


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(env(name, str(default)))


def add_server_args(parser: argparse.ArgumentParser, default_port: int) -> None:
    """Flags every role with a gRPC server takes."""
    parser.add_argument("--host", default=env("HOST", "127.0.0.1"), help="address to bind")
    parser.add_argument(
        "--port", type=int, default=env_int("PORT", default_port), help="gRPC port (0: any free)"
    )
    parser.add_argument(
        "--advertise-host",
        default=env("ADVERTISE_HOST", ""),
        help="host other roles use to reach this one (default: --host)",
    )
    add_process_args(parser)


@dataclass(frozen=True)
class ProcessConfig:
    """What every role process takes, whatever its role."""

    ready_file: str
    log_level: str
    log_format: str
    ops_port: int


def add_process_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ready-file",
        default=env("READY_FILE", ""),
        help="write this JSON file (address, ports, pid) once serving",
    )
    parser.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=env("LOG_FORMAT", "json"))
    parser.add_argument(
        "--ops-port",
        type=int,
        default=env_int("OPS_PORT", 9091),
        help="HTTP port of /healthz, /readyz and /metrics (0: any free)",
    )


def process_config(args: argparse.Namespace) -> ProcessConfig:
    return ProcessConfig(args.ready_file, args.log_level, args.log_format, args.ops_port)


def add_coordinator_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--coordinator",
        default=env("COORDINATOR", DEFAULT_COORDINATOR),
        help="host:port of the coordinator",
    )
