"""The ingest node's logic behind its gRPC service: directories, files, configurations, indexes.

Requests arrive validated for shape by the proxy; this checks what needs the stored state
(unknown ids are RESOURCE_NOT_FOUND, a sync already running is RESOURCE_CONFLICT, a product
pointing at a configuration of the wrong type is INVALID_PARAMETER) and changes nothing when
it refuses. Syncs run in the SyncWorker; this only queues them.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import mimetypes
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ingestnode import vectors
from ingestnode.blobs import BlobWriter
from ingestnode.files import FileLibrary
from ingestnode.models import (
    Configuration,
    Directory,
    DirectoryFile,
    Index,
    IndexState,
    StoredFile,
    new_id,
)
from ingestnode.store import Busy, JobState, ManagedStore
from managed.api import DEFAULT_PROJECT_ID, INDEX_PRODUCTS, Status
from managed.embedding import EMBEDDING_DIM, MODEL_NAME
from quiver.cluster import ClusterClient
from quiver.errors import ErrorCode, QuiverError
from quiver.ids import now_ms

log = logging.getLogger(__name__)

MAX_IMPORT_FILES = 10_000


def not_found(what: str) -> QuiverError:
    return QuiverError(ErrorCode.RESOURCE_NOT_FOUND, f"{what} not found")


@dataclass(frozen=True)
class IngestSettings:
    import_root: Path | None  # server-side folder imports are refused without one
    source_change_delay_s: float  # on_source_change: how long a burst of changes is awaited
    max_import_bytes: int  # a bigger file in an imported folder is skipped


@dataclass(frozen=True)
class Upload:
    """An upload's form fields (None: not given)."""

    project_id: str
    directory_id: str
    purpose: str
    file_name: str
    content_type: str
    display_name: str | None = None
    unique_id: str | None = None
    external_file_id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class IndexView:
    index: Index
    state: IndexState
    job: JobState | None

    @property
    def sync_in_progress(self) -> bool:
        return self.job is not None

    @property
    def metadata(self) -> dict[str, Any]:
        """The index's `metadata`: its build state, and what it was built with."""
        state = self.state
        queued = self.job is not None and self.job.state == "queued"
        return {
            "status": Status.PENDING if queued else state.status,
            "error_message": state.error_message,
            "file_count": state.file_count,
            "chunk_count": state.chunk_count,
            "token_count": state.token_count,  # estimated: words and punctuation marks
            "files_failed": list(state.files_failed),
            "progress": state.progress,
            "last_sync": state.last_sync or None,
            "sync_frequency": self.index.sync_frequency,
            "vector_target": self.index.vector_target,
            "store_attachments": list(self.index.store_attachments),
            "collection_name": self.index.collection_name or None,
            "embedding_model": MODEL_NAME,
            "embedding_dim": EMBEDDING_DIM,
        }


class IngestService:
    def __init__(
        self, store: ManagedStore, files: FileLibrary, cluster: ClusterClient, settings: IngestSettings
    ) -> None:
        self.store = store
        self.files = files
        self.cluster = cluster
        self.settings = settings

    # -- projects --------------------------------------------------------------------------

    @staticmethod
    def project(project_id: str) -> str:
        if project_id not in ("", DEFAULT_PROJECT_ID):
            raise not_found(f"Project {project_id}")
        return DEFAULT_PROJECT_ID

    # -- directories -----------------------------------------------------------------------

    async def create_directory(self, project_id: str, name: str, description: str, kind: str) -> Directory:
        now = now_ms()
        directory = Directory(
            id=new_id("dir"), project_id=self.project(project_id), name=name,
            description=description, type=kind or "user", created_ms=now, updated_ms=now,
        )
        await self.store.add_directory(directory)
        return directory

    async def directory(self, project_id: str, directory_id: str) -> Directory:
        """A live directory of the project."""
        self.project(project_id)
        directory = await self.store.get(Directory, directory_id) if directory_id.startswith("dir-") else None
        if directory is None or directory.deleted_ms:
            raise not_found(f"Directory {directory_id}")
        return directory

    async def list_directories(
        self, project_id: str, size: int, token: str, name: str, types: list[str], include_deleted: bool
    ) -> tuple[list[Directory], str]:
        self.project(project_id)

        def keep(d: Directory) -> bool:
            return ((include_deleted or not d.deleted_ms) and (not name or d.name == name)
                    and (not types or d.type in types))

        return await self.store.page(Directory, size, token, keep)

    async def update_directory(
        self, project_id: str, directory_id: str, name: str | None, description: str | None
    ) -> Directory:
        directory = await self.directory(project_id, directory_id)
        updated = replace(
            directory,
            name=directory.name if name is None else name,
            description=directory.description if description is None else description,
            updated_ms=now_ms(),
        )
        await self.store.put(updated)
        return updated

    async def delete_directory(self, project_id: str, directory_id: str) -> None:
        directory = await self.directory(project_id, directory_id)
        try:
            await self.store.soft_delete_directory(replace(directory, deleted_ms=now_ms()))
        except Busy:
            raise QuiverError(
                ErrorCode.RESOURCE_CONFLICT,
                f"Directory {directory_id} is the source of an index: delete the index first",
            ) from None

    # -- files -----------------------------------------------------------------------------

    async def writer(self) -> BlobWriter:
        return await self.files.writer()

    async def finish_upload(self, upload: Upload, writer: BlobWriter) -> tuple[StoredFile, DirectoryFile | None]:
        """Files an upload's bytes as a project file, and in its directory if it names one."""
        directory = await self.directory(upload.project_id, upload.directory_id) if upload.directory_id else None
        stored = await self.files.keep(
            writer, self.project(upload.project_id), upload.file_name, upload.purpose or "user_data",
            upload.content_type, upload.external_file_id or "",
        )
        if directory is None:
            return stored, None
        placed, _ = await self.files.attach(
            directory, stored, upload.display_name, upload.unique_id, upload.metadata
        )
        await self._source_changed(directory.id)
        return stored, placed

    async def add_directory_file(
        self,
        project_id: str,
        directory_id: str,
        file_id: str,
        display_name: str | None,
        unique_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> DirectoryFile:
        directory = await self.directory(project_id, directory_id)
        stored = await self.file(project_id, file_id)
        placed, _ = await self.files.attach(directory, stored, display_name, unique_id, metadata)
        await self._source_changed(directory.id)
        return placed

    async def import_files(
        self, project_id: str, directory_id: str, path: str, pattern: str
    ) -> tuple[list[DirectoryFile], list[str]]:
        """Registers the files below `path` (relative to the import root) that match `pattern`;
        each one's unique_id is its path relative to the root, so importing again replaces."""
        directory = await self.directory(project_id, directory_id)
        root = self.settings.import_root
        if root is None:
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "imports are disabled: start the ingest node with --import-root")
        found, skipped = await asyncio.to_thread(_files_below, root, path, pattern or "**/*",
                                                 self.settings.max_import_bytes)
        placed: list[DirectoryFile] = []
        for relative in found:
            data = await asyncio.to_thread((root / relative).read_bytes)
            content_type = mimetypes.guess_type(relative)[0] or "application/octet-stream"
            stored = await self.files.keep_bytes(data, directory.project_id, Path(relative).name,
                                                 "user_data", content_type)
            dfl, _ = await self.files.attach(directory, stored, relative, relative, None)
            placed.append(dfl)
        if placed:
            await self._source_changed(directory.id)
        return placed, skipped

    async def directory_file(self, project_id: str, directory_id: str, file_id: str) -> DirectoryFile:
        directory = await self.directory(project_id, directory_id)
        found = await self.store.get(DirectoryFile, file_id) if file_id.startswith("dfl-") else None
        if found is None or found.deleted_ms or found.directory_id != directory.id:
            raise not_found(f"Directory file {file_id}")
        return found

    async def list_directory_files(
        self, project_id: str, directory_id: str, size: int, token: str, display_name: str,
        display_name_contains: str, unique_id: str, file_id: str, include_deleted: bool,
        updated_after_ms: int, updated_before_ms: int,
    ) -> tuple[list[DirectoryFile], str]:
        directory = await self.directory(project_id, directory_id)

        def keep(f: DirectoryFile) -> bool:
            return (
                (include_deleted or not f.deleted_ms)
                and (not display_name or f.display_name == display_name)
                and display_name_contains.lower() in f.display_name.lower()
                and (not unique_id or f.unique_id == unique_id)
                and (not file_id or f.file_id == file_id)
                and (not updated_after_ms or f.updated_ms >= updated_after_ms)
                and (not updated_before_ms or f.updated_ms <= updated_before_ms)
            )

        return await self.store.directory_page(directory.id, size, token, keep)

    async def delete_directory_file(self, project_id: str, directory_id: str, file_id: str) -> None:
        found = await self.directory_file(project_id, directory_id, file_id)
        await self.store.soft_delete_directory_file(replace(found, deleted_ms=now_ms()))
        await self._source_changed(directory_id)

    async def file(self, project_id: str, file_id: str) -> StoredFile:
        self.project(project_id)
        found = await self.store.get(StoredFile, file_id) if file_id.startswith("file-") else None
        if found is None:
            raise not_found(f"File {file_id}")
        return found

    async def list_files(self, project_id: str, size: int, token: str, purpose: str) -> tuple[list[StoredFile], str]:
        self.project(project_id)
        return await self.store.page(StoredFile, size, token, lambda f: not purpose or f.purpose == purpose)

    async def delete_file(self, project_id: str, file_id: str) -> None:
        await self.files.delete(await self.file(project_id, file_id))

    async def attachment_path(self, project_id: str, source_id: str, name: str) -> Path:
        entries = await self.store.attachments(await self._attachment_source(project_id, source_id))
        if name not in entries:
            raise not_found(f"Attachment {name!r} of {source_id}")
        return self.files.blobs.attachment_path(source_id, name)

    async def list_attachments(
        self, project_id: str, source_id: str, size: int, token: str
    ) -> tuple[list[tuple[str, dict[str, int]]], str]:
        entries = await self.store.attachments(await self._attachment_source(project_id, source_id))
        names = [n for n in entries if n > token]
        page = names[:size]
        return [(n, entries[n]) for n in page], (page[-1] if len(names) > size else "")

    async def _attachment_source(self, project_id: str, source_id: str) -> str:
        self.project(project_id)
        source = await self.store.get(DirectoryFile, source_id) if source_id.startswith("dfl-") else None
        if source is None:
            raise not_found(f"Directory file {source_id}")
        return source.id

    async def _source_changed(self, directory_id: str) -> None:
        """Schedules the debounced sync of every on_source_change index over the directory:
        each further change pushes it back, so a burst of uploads makes one sync."""
        due = now_ms() + int(self.settings.source_change_delay_s * 1000)
        for index_id in await self.store.directory_index_ids(directory_id):
            index = await self.store.get(Index, index_id)
            if index is not None and index.sync_frequency == "on_source_change":
                await self.store.schedule_sync(index_id, due)

    # -- configurations ----------------------------------------------------------------------

    async def upsert_configuration(self, project_id: str, name: str, parameters: dict[str, Any]) -> Configuration:
        project = self.project(project_id)
        product_type = parameters["product_type"]
        now = now_ms()

        def make(previous: Configuration | None) -> Configuration:
            if previous is None:
                return Configuration(
                    id=new_id("cfg"), project_id=project, name=name, product_type=product_type,
                    parameters=parameters, version_ms=now, created_ms=now, updated_ms=now,
                )
            return replace(previous, parameters=parameters, version_ms=now, updated_ms=now)

        return await self.store.upsert_configuration(_name_key(product_type, name), make)

    async def configuration(self, project_id: str, config_id: str) -> Configuration:
        self.project(project_id)
        found = await self.store.get(Configuration, config_id) if config_id.startswith("cfg-") else None
        if found is None:
            raise not_found(f"Configuration {config_id}")
        return found

    async def list_configurations(
        self, project_id: str, size: int, token: str, name: str, product_types: list[str]
    ) -> tuple[list[Configuration], str]:
        self.project(project_id)

        def keep(c: Configuration) -> bool:
            return (not name or c.name == name) and (not product_types or c.product_type in product_types)

        return await self.store.page(Configuration, size, token, keep)

    async def update_configuration(
        self, project_id: str, config_id: str, name: str | None, parameters: dict[str, Any] | None
    ) -> Configuration:
        current = await self.configuration(project_id, config_id)
        if parameters is not None and parameters["product_type"] != current.product_type:
            raise QuiverError(
                ErrorCode.INVALID_PARAMETER,
                f"parameters.product_type cannot change from {current.product_type!r}",
            )
        now = now_ms()
        updated = replace(
            current,
            name=current.name if name is None else name,
            parameters=current.parameters if parameters is None else parameters,
            version_ms=now,
            updated_ms=now,
        )
        try:
            await self.store.rename_configuration(
                _name_key(current.product_type, current.name), _name_key(updated.product_type, updated.name), updated
            )
        except Busy:
            raise QuiverError(
                ErrorCode.RESOURCE_CONFLICT, f"a {updated.product_type} configuration named {updated.name!r} exists"
            ) from None
        return updated

    async def delete_configuration(self, project_id: str, config_id: str) -> None:
        found = await self.configuration(project_id, config_id)
        await self.store.delete_configuration(_name_key(found.product_type, found.name), found.id)

    # -- indexes -----------------------------------------------------------------------------

    async def create_index(
        self,
        project_id: str,
        source_directory_id: str,
        name: str | None,
        description: str,
        products: list[tuple[str, str]],
        store_attachments: list[str],
        sync_frequency: str,
        vector_target: str,
    ) -> IndexView:
        source = await self.directory(project_id, source_directory_id)
        for position, (config_id, product_type) in enumerate(products):
            config = await self.configuration(project_id, config_id)
            if config.product_type != INDEX_PRODUCTS[product_type]:
                raise QuiverError(
                    ErrorCode.INVALID_PARAMETER,
                    f"products[{position}]: configuration {config_id} is a {config.product_type} "
                    f"configuration, not {INDEX_PRODUCTS[product_type]} as product type {product_type!r} needs",
                )
        index_id = new_id("idx")
        index_name = name or source.name
        output = await self.create_directory(project_id, f"{index_name} (parsed)", f"parsed output of index {index_id}",
                                             "index")
        collection = vectors.collection_name(index_id) if vector_target == "DEFAULT" else ""
        now = now_ms()
        index = Index(
            id=index_id, project_id=source.project_id, name=index_name, description=description,
            source_directory_id=source.id, output_directory_id=output.id,
            export_config_id=new_id("ec"), sync_config_id=new_id("sc"), products=tuple(products),
            store_attachments=tuple(store_attachments), sync_frequency=sync_frequency,
            vector_target=vector_target, collection_name=collection, created_ms=now, updated_ms=now,
        )
        if collection:
            await self._create_collection(collection)
        try:
            await self.store.add_index(index, IndexState())
            await self.store.request_sync(index.id, new_id("job"), now)
        except BaseException:
            await self._drop_collection(collection)
            raise
        log.info("index %s created over directory %s", index.id, source.id)
        return await self.view(index)

    async def _create_collection(self, name: str) -> None:
        await self.cluster.create_collection(vectors.collection_spec(name))
        try:
            await self.cluster.create_index(name, vectors.vector_index_spec(), replace=False)
        except BaseException:
            await self._drop_collection(name)
            raise

    async def _drop_collection(self, name: str) -> None:
        if not name:
            return
        try:
            await self.cluster.drop_collection(name)
        except QuiverError as error:
            if error.code is not ErrorCode.COLLECTION_NOT_FOUND:
                raise

    async def index(self, project_id: str, index_id: str) -> Index:
        """An index by its id, or by its export config id (as retrieval names it)."""
        self.project(project_id)
        if index_id.startswith("ec-"):
            index_id = await self.store.index_for_export_config(index_id) or ""
        found = await self.store.get(Index, index_id) if index_id.startswith("idx-") else None
        if found is None:
            raise not_found(f"Index {index_id}")
        return found

    async def view(self, index: Index) -> IndexView:
        return IndexView(index, await self.store.index_state(index.id), await self.store.job_state(index.id))

    async def list_indexes(
        self, project_id: str, size: int, token: str, source_directory_id: str
    ) -> tuple[list[IndexView], str]:
        self.project(project_id)
        page, next_token = await self.store.page(
            Index, size, token, lambda i: not source_directory_id or i.source_directory_id == source_directory_id
        )
        jobs = await self.store.job_states([i.id for i in page])
        return [IndexView(i, await self.store.index_state(i.id), j) for i, j in zip(page, jobs)], next_token

    async def delete_index(self, project_id: str, index_id: str) -> None:
        """Forgets the index (a running sync stops at its next step), drops its collection and
        its parsed output."""
        index = await self.index(project_id, index_id)
        await self.store.remove_index(index)
        await self._drop_collection(index.collection_name)
        output = await self.store.get(Directory, index.output_directory_id)
        if output is not None:
            for parsed in await self.store.live_directory_files(output.id):
                stored = await self.store.get(StoredFile, parsed.file_id)
                if stored is not None:
                    await self.files.delete(stored)
            await self.store.put(replace(output, deleted_ms=now_ms()))
        log.info("index %s deleted", index.id)

    async def sync_index(self, project_id: str, index_id: str) -> None:
        index = await self.index(project_id, index_id)
        try:
            await self.store.request_sync(index.id, new_id("job"), now_ms())
        except Busy:
            raise QuiverError(ErrorCode.RESOURCE_CONFLICT, f"Index {index.id} already has a sync in progress") from None
        except KeyError:
            raise not_found(f"Index {index.id}") from None

    async def cancel_sync(self, project_id: str, index_id: str) -> None:
        index = await self.index(project_id, index_id)
        try:
            dropped_queued = await self.store.cancel_sync(index.id)
        except Busy:
            raise QuiverError(ErrorCode.RESOURCE_CONFLICT, f"Index {index.id} has no sync in progress") from None
        state = await self.store.index_state(index.id)
        if dropped_queued and not state.last_synced_ms:  # it never ran: nothing was built
            await self.store.put_index_state(index.id, replace(
                state, status=Status.FAILED, error_message="the sync was cancelled before it ran"))


def _name_key(product_type: str, name: str) -> str:
    return f"{product_type}/{name}"


def _files_below(root: Path, path: str, pattern: str, max_bytes: int) -> tuple[list[str], list[str]]:
    """Regular files below root/path matching `pattern` (fnmatch on the path relative to the
    root; `*` crosses folders), as paths relative to the root. Nothing outside the root is
    reached: `..` is refused and symbolic links are neither followed nor imported."""
    base = root.resolve()
    start = (base / path).resolve()
    if not start.is_relative_to(base) or ".." in Path(path).parts or Path(path).is_absolute():
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"path {path!r} is outside the import root")
    if not start.is_dir():
        raise not_found(f"Folder {path!r} below the import root")
    found: list[str] = []
    skipped: list[str] = []
    for folder, subfolders, names in os.walk(start, followlinks=False):
        subfolders.sort()
        for name in sorted(names):
            full = Path(folder) / name
            relative = full.relative_to(base).as_posix()
            if not _matches(relative, pattern):
                continue
            if full.is_symlink():
                skipped.append(f"{relative}: a symbolic link")
            elif full.stat().st_size > max_bytes:
                skipped.append(f"{relative}: larger than {max_bytes} bytes")
            elif len(found) >= MAX_IMPORT_FILES:
                skipped.append(f"{relative}: past {MAX_IMPORT_FILES} files")
            else:
                found.append(relative)
    return found, skipped


def _matches(relative: str, pattern: str) -> bool:
    # "**/x" also matches x at the top, as a shell's globstar does.
    return fnmatch.fnmatchcase(relative, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatchcase(relative, pattern[3:])
    )
