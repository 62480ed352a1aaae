"""Project files and directory files: their records in Redis and their bytes on disk, together."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from ingestnode.blobs import BlobStore, BlobWriter
from ingestnode.models import Directory, DirectoryFile, StoredFile, new_id
from ingestnode.store import ManagedStore
from quiver.ids import now_ms


class FileLibrary:
    def __init__(self, store: ManagedStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    async def writer(self) -> BlobWriter:
        return await asyncio.to_thread(self.blobs.writer)

    async def keep(
        self,
        writer: BlobWriter,
        project_id: str,
        name: str,
        purpose: str,
        content_type: str,
        external_file_id: str = "",
    ) -> StoredFile:
        """Files the bytes a writer received as a new project file."""
        digest = writer.digest
        await self.store.hold_blob(digest)  # before the bytes land: see ManagedStore.hold_blob
        await asyncio.to_thread(writer.commit)
        stored = StoredFile(
            id=new_id("file"),
            project_id=project_id,
            name=name,
            purpose=purpose,
            content_type=content_type,
            content_hash=digest,
            size=writer.size,
            created_ms=now_ms(),
            external_file_id=external_file_id,
        )
        await self.store.add_file(stored)
        return stored

    async def keep_bytes(
        self, data: bytes, project_id: str, name: str, purpose: str, content_type: str
    ) -> StoredFile:
        writer = await self.writer()
        try:
            await asyncio.to_thread(writer.write, data)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        return await self.keep(writer, project_id, name, purpose, content_type)

    async def read(self, stored: StoredFile) -> bytes:
        return await asyncio.to_thread(self.blobs.read, stored.content_hash)

    async def delete(self, stored: StoredFile) -> None:
        if await self.store.remove_file(stored):
            await asyncio.to_thread(self.blobs.delete, stored.content_hash)

    async def attach(
        self,
        directory: Directory,
        stored: StoredFile,
        display_name: str | None,
        unique_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> tuple[DirectoryFile, DirectoryFile | None]:
        """Puts the file in the directory; a live file with the same unique_id (default: the
        display name, which defaults to the file's name) is replaced, keeping its id. Returns
        the directory file and the one it replaced."""
        name = display_name or stored.name
        key = unique_id or name
        now = now_ms()

        def make(previous: DirectoryFile | None) -> DirectoryFile:
            if previous is None:
                return DirectoryFile(
                    id=new_id("dfl"), directory_id=directory.id, project_id=directory.project_id,
                    display_name=name, unique_id=key, file_id=stored.id, metadata=metadata or {},
                    created_ms=now, updated_ms=now,
                )
            return replace(
                previous, display_name=name, file_id=stored.id, updated_ms=now,
                metadata=previous.metadata if metadata is None else metadata,
            )

        return await self.store.put_directory_file(directory.id, key, make)
