"""`quiver index-folder PATH`: uploads a folder of documents and builds a managed index over it.

It talks to the managed-index API (LlamaCloud's) like any client: creates a source directory
named after the folder, uploads every file (unique_id: its path in the folder, so running it
again into the same directory replaces what changed), creates an index, and follows its sync
with a line for each phase and a progress bar until the index is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import mimetypes
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
from tqdm import tqdm

from managed.api import Status
from quiver import config

POLL_S = 0.5


class ApiError(Exception):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quiver index-folder", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--url", default=config.env("URL", "http://127.0.0.1:19530"),
                        help="the proxy's REST v2 / managed-index address")
    parser.add_argument("--api-key", default=os.environ.get("LLAMA_CLOUD_API_KEY", config.env("API_KEY", "")),
                        help="an API key (quiver api-key create), or user:password "
                             "(default: $LLAMA_CLOUD_API_KEY or $QUIVER_API_KEY)")
    parser.add_argument("--name", default="", help="name of the directory and index (default: the folder's)")
    parser.add_argument("--glob", default="**/*", help="which files, by path in the folder (* crosses folders)")
    parser.add_argument("--directory-id", default="", help="upload into this existing directory instead")
    parser.add_argument("--no-wait", action="store_true", help="return once the index is created")
    return parser.parse_args(argv)


def files_in(folder: Path, pattern: str) -> list[Path]:
    found = []
    for parent, subfolders, names in os.walk(folder):
        subfolders.sort()
        for name in sorted(names):
            path = Path(parent) / name
            relative = path.relative_to(folder).as_posix()
            matches = fnmatch.fnmatchcase(relative, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(relative, pattern[3:]))
            if matches and path.is_file() and not path.is_symlink():
                found.append(path)
    return found


class Api:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.base = url.rstrip("/") + "/api/v1"

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.base + path, **kwargs) as response:
            body = await response.json(content_type=None) if response.status != 204 else None
            if response.status >= 400:
                detail = body.get("detail") if isinstance(body, dict) else body
                raise ApiError(f"{method} {path}: HTTP {response.status}: {detail}")
            return body


async def upload_all(api: Api, directory_id: str, folder: Path, files: list[Path]) -> None:
    total = sum(f.stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, desc="uploading", file=sys.stderr) as bar:
        for path in files:
            relative = path.relative_to(folder).as_posix()
            form = aiohttp.FormData()
            form.add_field("unique_id", relative)
            form.add_field("display_name", relative)
            with open(path, "rb") as data:
                form.add_field("upload_file", data, filename=path.name,
                               content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")
                await api.request("POST", f"/beta/directories/{directory_id}/files/upload", data=form)
            bar.update(path.stat().st_size)


PHASE_DETAILS = {Status.PENDING: "queued for an ingest node"}


async def follow(api: Api, index_id: str) -> dict[str, Any]:
    """Polls the index until its sync ends; returns the index. Each phase gets a line as it
    begins and a bar once it has something to count: no bar sits at 0 while the sync is queued
    or the ingest node loads the embedding model."""
    bar: tqdm | None = None
    shown = ""  # the phase whose line or bar is on screen
    try:
        while True:
            index = await api.request("GET", f"/indexes/{index_id}", params={"expand": "sync_in_progress"})
            metadata = index["metadata"]
            if not index["sync_in_progress"] and metadata["status"] in (Status.READY, Status.FAILED):
                return index
            progress = metadata.get("progress") or {}
            exporting = progress.get("phase") == Status.EXPORTING and progress.get("chunks_total")
            total, done, unit = (
                (progress["chunks_total"], progress.get("chunks_done", 0), "chunk") if exporting
                else (progress.get("files_total", 0), progress.get("files_done", 0), "file")
            )
            status = metadata["status"]
            waiting = ("loading the embedding model" if progress.get("loading_embedding_model")
                       else "" if total else PHASE_DETAILS.get(status, ""))
            phase = f"{status}: {waiting}" if waiting else f"{status} ({unit}s)"
            if phase != shown:
                if bar is not None:
                    bar.close()
                    bar = None
                if waiting:
                    print(phase, file=sys.stderr, flush=True)
                shown = phase
            if not waiting:
                if bar is None:
                    bar = tqdm(total=total, initial=done, desc=status, unit=unit, file=sys.stderr)
                bar.total, bar.n = total, done
                bar.refresh()
            await asyncio.sleep(POLL_S)
    finally:
        if bar is not None:
            bar.close()


async def run(args: argparse.Namespace) -> int:
    folder = args.folder.resolve()
    if not folder.is_dir():
        raise ApiError(f"{args.folder} is not a folder")
    name = args.name or folder.name
    files = files_in(folder, args.glob)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as http:
        api = Api(http, args.url)
        directory_id = args.directory_id or (await api.request("POST", "/beta/directories", json={"name": name}))["id"]
        await upload_all(api, directory_id, folder, files)
        index = await api.request("POST", "/indexes", json={"source_directory_id": directory_id, "name": name})
        print(f"index {index['id']} (export config {index['export_config_id']}) over directory {directory_id}: "
              f"{len(files)} files", file=sys.stderr)
        if args.no_wait:
            print(index["id"])
            return 0
        index = await follow(api, index["id"])
    metadata = index["metadata"]
    for failed in metadata["files_failed"]:
        print(f"  not indexed: {failed['display_name']}: {failed['error']}", file=sys.stderr)
    print(f"{metadata['status']}: {metadata['file_count']} files, {metadata['chunk_count']} chunks"
          + (f" ({metadata['error_message']})" if metadata["error_message"] else ""), file=sys.stderr)
    print(index["id"])
    return 0 if metadata["status"] == Status.READY else 1


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        sys.exit(asyncio.run(run(args)))
    except (ApiError, aiohttp.ClientError) as error:
        sys.exit(f"quiver index-folder: {error}")
