"""The command-line tools: `quiver api-key create` and `quiver index-folder` (its progress bars)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import cast

import pytest

from managed import index_folder
from tests.cluster import TestCluster
from tests.managed.conftest import ManagedApi
from tests.managed.documents import make_pdf


async def quiver(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quiver.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_api_key_create_prints_a_working_key(api: ManagedApi, cluster: TestCluster) -> None:
    code, out, err = await quiver("api-key", "create", "--url", cluster.http_url, "--user", "root", "--password", "Milvus")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("llx-") and len(key) > 40
    with_key = ManagedApi(api.http, cluster.http_url, token=key)
    assert (await with_key.request("GET", "/beta/directories")).status == 200
    code, _, err = await quiver("api-key", "create", "--url", cluster.http_url, "--for-user", "nobody")
    assert code == 1 and "user 'nobody' does not exist" in err


async def test_index_folder_uploads_indexes_and_shows_progress(
    api: ManagedApi, cluster: TestCluster, tmp_path: Path
) -> None:
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "router.pdf").write_bytes(make_pdf([["To reset the router, hold the power button."]]))
    (tmp_path / "tides.md").write_text("# Tides\n\nThe tide turns twice a day.")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG not a document")
    code, out, err = await quiver("index-folder", str(tmp_path), "--url", cluster.http_url,
                                  "--api-key", "root:Milvus", "--name", "cli folder")
    assert code == 0, err
    assert "uploading" in err and "ready" in err and "3 files" in err  # the progress bars' labels
    assert "not indexed: photo.png: unsupported file type" in err
    index = await api.get_index(out.strip())
    assert index["name"] == "cli folder" and index["metadata"]["file_count"] == 2
    (hit,) = await api.retrieve(index["id"], "How often does the tide turn?", top_k=1)
    assert hit["metadata"]["file_name"] == "tides.md"
    files = await api.ok("GET", f"/beta/directories/{index['source_directory_id']}/files")
    assert sorted(f["unique_id"] for f in files["items"]) == ["guides/router.pdf", "photo.png", "tides.md"]


class ScriptedIndex:
    """Answers GET /indexes/ID with one state after another, as a sync moves on."""

    def __init__(self, *states: tuple[str, dict[str, object] | None]) -> None:
        self.states = list(states)

    async def request(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        status, progress = self.states.pop(0)
        return {"sync_in_progress": bool(self.states),
                "metadata": {"status": status, "progress": progress}}


async def test_index_folder_names_the_phase_while_there_is_nothing_to_count(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(index_folder, "POLL_S", 0)
    loading = {"phase": "exporting", "files_done": 0, "files_total": 2, "chunks_done": 0, "chunks_total": 5,
               "loading_embedding_model": True}
    api = ScriptedIndex(
        ("pending", None),
        ("syncing", {"phase": "syncing", "files_done": 1, "files_total": 2, "chunks_done": 0, "chunks_total": 0}),
        ("exporting", loading),
        ("exporting", loading),
        ("exporting", {**loading, "chunks_done": 3, "loading_embedding_model": False}),
        ("ready", None),
    )
    index = await index_folder.follow(cast(index_folder.Api, api), "index-1")
    assert index["metadata"] == {"status": "ready", "progress": None}
    err = capsys.readouterr().err
    assert err.count("pending: queued for an ingest node") == 1
    assert err.count("exporting: loading the embedding model") == 1
    assert err.index("pending") < err.index("1/2") < err.index("loading the embedding model") < err.index("3/5")
    assert "0/5" not in err  # no chunk bar at 0 while the model loads
