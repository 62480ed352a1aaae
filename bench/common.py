"""What the benchmarks share: a standalone cluster of their own, and small REST helpers."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quiver.standalone import free_port  # noqa: E402


@dataclass(frozen=True)
class Endpoints:
    v1: str  # Milvus 0.x REST
    http: str  # REST v2
    pid: int = 0  # the standalone supervisor, when the benchmark started one


@asynccontextmanager
async def cluster(v1_url: str | None, http_url: str | None, source: Path = ROOT) -> AsyncIterator[Endpoints]:
    """The cluster at the given URLs (one is enough: the other is on its default port), or a
    standalone one in a temporary folder, run from the Quiver source tree `source`."""
    if v1_url or http_url:
        host = (v1_url or http_url or "").rsplit(":", 1)[0]
        yield Endpoints(v1_url or f"{host}:19121", http_url or f"{host}:19530")
        return
    with tempfile.TemporaryDirectory(prefix="quiver-bench-") as tmp:
        v1_port, http_port = free_port(), free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "quiver.cli", "standalone", "--data-dir", tmp,
            "--v1-port", str(v1_port), "--http-port", str(http_port), "--log-level", "WARNING",
            stdout=asyncio.subprocess.PIPE, cwd=source,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if not line.startswith(b"Quiver is ready"):
            raise RuntimeError(f"standalone did not start: {line!r}")
        try:
            yield Endpoints(f"http://127.0.0.1:{v1_port}", f"http://127.0.0.1:{http_port}", process.pid)
        finally:
            process.terminate()
            await process.wait()


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


async def call(http: aiohttp.ClientSession, method: str, url: str, body: object = None) -> dict:
    """A Milvus 0.x call; raises on an error status."""
    data = None if body is None else orjson.dumps(body)
    async with http.request(method, url, data=data, headers={"Content-Type": "application/json"}) as r:
        reply = await r.json(content_type=None) if r.status != 204 else {}
        if r.status >= 400:
            raise RuntimeError(f"{method} {url}: {r.status} {reply}")
        return reply


async def flush(http: aiohttp.ClientSession, v1_url: str, name: str) -> None:
    await call(http, "PUT", f"{v1_url}/system/task", {"flush": {"collection_names": [name]}})


def hey(
    url: str, body: bytes, concurrency: int, requests: int, method: str = "PUT", headers: dict[str, str] | None = None
) -> dict[str, float]:
    """Loads `url` with `hey` (Debian package `hey`), a client fast enough not to be the limit:
    QPS and p50/p99 latency in ms. Raises if any request failed."""
    if shutil.which("hey") is None:
        raise SystemExit("this benchmark needs `hey`: apt-get install hey")
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        out = subprocess.run(
            ["hey", "-n", str(requests), "-c", str(concurrency), "-m", method,
             "-T", "application/json", *(f for k, v in (headers or {}).items() for f in ("-H", f"{k}: {v}")),
             "-D", file.name, url],
            check=True, capture_output=True, text=True,
        ).stdout
    codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    if [code for code, _ in codes] != [code for code, _ in codes if code.startswith("2")] or not codes:
        raise RuntimeError(f"hey saw failed requests:\n{out}")
    return {
        "qps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000,  # type: ignore[union-attr]
        "p99_ms": float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000,  # type: ignore[union-attr]
    }


async def load_with_hnsw(
    http: aiohttp.ClientSession, v1_url: str, name: str, base: np.ndarray, m: int = 16, ef_construction: int = 200
) -> None:
    """A new 0.x collection holding `base` (ids 0..n-1, inserted 1,000 at a time), flushed, with
    an HNSW index built over it."""
    await http.delete(f"{v1_url}/collections/{name}")
    await call(http, "POST", f"{v1_url}/collections", {"collection_name": name, "dimension": base.shape[1]})
    for start in range(0, len(base), 1000):
        ids = [str(i) for i in range(start, start + 1000)]
        await call(http, "POST", f"{v1_url}/collections/{name}/vectors",
                   {"vectors": base[start : start + 1000].tolist(), "ids": ids})
    await flush(http, v1_url, name)
    await call(http, "POST", f"{v1_url}/collections/{name}/indexes",
               {"index_type": "HNSW", "params": {"M": m, "efConstruction": ef_construction}})
