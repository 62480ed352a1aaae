"""File bytes on the ingest node's disk: uploads under their content hash, attachments per file.

Layout under the data dir:

    blobs/ab/abcdef...        the bytes whose sha256 hex is abcdef... (shared by equal uploads)
    attachments/<dfl id>/...  screenshots/page_1.png, items/page_1.json of one directory file
    tmp/                      uploads being received

Every write goes to a temporary file, is fsynced and renamed, so a reader never sees part of
a file. Several ingest nodes must share this directory (one volume mounted by all): any of
them may receive an upload and any may sync the index that reads it.

All methods block on the disk: call them from a worker thread (asyncio.to_thread).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

READ_CHUNK_BYTES = 1024 * 1024


class BlobWriter:
    """Receives bytes piece by piece, hashing them on the way; `commit` files them."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.tmp_dir)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._path = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        """sha256 hex of the bytes written so far."""
        return self._hash.hexdigest()

    def commit(self) -> str:
        """Files the bytes under their digest (an identical blob already there is replaced by
        the same bytes)."""
        digest = self.digest
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self._store.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, target)
        return digest

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    # -- attachments ---------------------------------------------------------------------------

    def attachment_path(self, source_id: str, name: str) -> Path:
        return self.root / "attachments" / source_id / name

    def put_attachments(self, source_id: str, kinds: tuple[str, ...], files: dict[str, bytes]) -> None:
        """Replaces the attachments of `source_id` of these kinds (the first part of their
        names: screenshots/..., items/...) with `files` (name -> bytes)."""
        for kind in kinds:
            shutil.rmtree(self.root / "attachments" / source_id / kind, ignore_errors=True)
        for name, data in files.items():
            target = self.attachment_path(source_id, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(target.name + ".tmp")
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
