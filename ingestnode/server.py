"""The ingest node's gRPC servicer: protobuf in and out; the logic is in service.py,
sync.py and retrieval.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import orjson

from ingestnode.blobs import READ_CHUNK_BYTES, BlobWriter
from ingestnode.models import Configuration, Directory, DirectoryFile, StoredFile
from ingestnode.retrieval import Condition, Hit, Query, Retriever
from ingestnode.service import IndexView, IngestService, Upload
from quiver.errors import ErrorCode, QuiverError
from quiver.rpc import ok, servicer_method, status_of
from quiver_pb import common_pb2 as pb
from quiver_pb import ingestnode_pb2 as ipb
from quiver_pb.ingestnode_pb2_grpc import IngestNodeServicer

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50


def _page(request_page: ipb.PageRequest) -> tuple[int, str]:
    return request_page.page_size or DEFAULT_PAGE_SIZE, request_page.page_token


def _json_object(text: str) -> dict | None:
    return orjson.loads(text) if text else None


class IngestNodeServer(IngestNodeServicer):
    def __init__(self, service: IngestService, retriever: Retriever) -> None:
        self.service = service
        self.retriever = retriever

    # -- directories -----------------------------------------------------------------------

    @servicer_method(ipb.DirectoryReply)
    async def CreateDirectory(self, request: ipb.CreateDirectoryRequest) -> ipb.DirectoryReply:
        directory = await self.service.create_directory(
            request.project_id, request.name, request.description, request.type
        )
        return ipb.DirectoryReply(status=ok(), directory=_directory(directory))

    @servicer_method(ipb.DirectoryReply)
    async def GetDirectory(self, request: ipb.ObjectRef) -> ipb.DirectoryReply:
        directory = await self.service.directory(request.project_id, request.id)
        return ipb.DirectoryReply(status=ok(), directory=_directory(directory))

    @servicer_method(ipb.DirectoriesReply)
    async def ListDirectories(self, request: ipb.ListDirectoriesRequest) -> ipb.DirectoriesReply:
        found, token = await self.service.list_directories(
            request.project_id, *_page(request.page), request.name, list(request.types), request.include_deleted
        )
        return ipb.DirectoriesReply(status=ok(), directories=[_directory(d) for d in found], next_page_token=token)

    @servicer_method(ipb.DirectoryReply)
    async def UpdateDirectory(self, request: ipb.UpdateDirectoryRequest) -> ipb.DirectoryReply:
        directory = await self.service.update_directory(
            request.project_id, request.id,
            request.name if request.HasField("name") else None,
            request.description if request.HasField("description") else None,
        )
        return ipb.DirectoryReply(status=ok(), directory=_directory(directory))

    @servicer_method(pb.StatusReply)
    async def DeleteDirectory(self, request: ipb.ObjectRef) -> pb.StatusReply:
        await self.service.delete_directory(request.project_id, request.id)
        return pb.StatusReply(status=ok())

    # -- files -----------------------------------------------------------------------------

    @servicer_method(ipb.UploadReply)
    async def UploadFile(self, request: AsyncIterator[ipb.UploadChunk]) -> ipb.UploadReply:
        header = ipb.UploadChunk()
        writer: BlobWriter = await self.service.writer()
        try:
            async for piece in request:
                if piece.data:
                    await asyncio.to_thread(writer.write, piece.data)
                piece.ClearField("data")
                header.MergeFrom(piece)  # the form fields, wherever in the stream they came
            if not header.end:  # the client gave up (a cancelled call can end like a finished one)
                raise QuiverError(ErrorCode.INVALID_BODY, "the upload stream ended before its last message")
            stored, placed = await self.service.finish_upload(_upload(header), writer)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        reply = ipb.UploadReply(status=ok(), file=_file(stored))
        if placed is not None:
            reply.directory_file.CopyFrom(_directory_file(placed))
        return reply

    @servicer_method(ipb.DirectoryFileReply)
    async def AddDirectoryFile(self, request: ipb.AddDirectoryFileRequest) -> ipb.DirectoryFileReply:
        placed = await self.service.add_directory_file(
            request.project_id, request.directory_id, request.file_id,
            request.display_name if request.HasField("display_name") else None,
            request.unique_id if request.HasField("unique_id") else None,
            _json_object(request.metadata_json) if request.HasField("metadata_json") else None,
        )
        return ipb.DirectoryFileReply(status=ok(), directory_file=_directory_file(placed))

    @servicer_method(ipb.ImportFilesReply)
    async def ImportFiles(self, request: ipb.ImportFilesRequest) -> ipb.ImportFilesReply:
        placed, skipped = await self.service.import_files(
            request.project_id, request.directory_id, request.path, request.glob
        )
        return ipb.ImportFilesReply(
            status=ok(), directory_files=[_directory_file(f) for f in placed], skipped=skipped
        )

    @servicer_method(ipb.DirectoryFileReply)
    async def GetDirectoryFile(self, request: ipb.DirectoryFileRef) -> ipb.DirectoryFileReply:
        found = await self.service.directory_file(request.project_id, request.directory_id, request.id)
        return ipb.DirectoryFileReply(status=ok(), directory_file=_directory_file(found))

    @servicer_method(ipb.DirectoryFilesReply)
    async def ListDirectoryFiles(self, request: ipb.ListDirectoryFilesRequest) -> ipb.DirectoryFilesReply:
        found, token = await self.service.list_directory_files(
            request.project_id, request.directory_id, *_page(request.page), request.display_name,
            request.display_name_contains, request.unique_id, request.file_id, request.include_deleted,
            request.updated_at_on_or_after_ms, request.updated_at_on_or_before_ms,
        )
        return ipb.DirectoryFilesReply(
            status=ok(), directory_files=[_directory_file(f) for f in found], next_page_token=token
        )

    @servicer_method(pb.StatusReply)
    async def DeleteDirectoryFile(self, request: ipb.DirectoryFileRef) -> pb.StatusReply:
        await self.service.delete_directory_file(request.project_id, request.directory_id, request.id)
        return pb.StatusReply(status=ok())

    @servicer_method(ipb.FileReply)
    async def GetFile(self, request: ipb.ObjectRef) -> ipb.FileReply:
        return ipb.FileReply(status=ok(), file=_file(await self.service.file(request.project_id, request.id)))

    @servicer_method(ipb.FilesReply)
    async def ListFiles(self, request: ipb.ListFilesRequest) -> ipb.FilesReply:
        found, token = await self.service.list_files(request.project_id, *_page(request.page), request.purpose)
        return ipb.FilesReply(status=ok(), files=[_file(f) for f in found], next_page_token=token)

    @servicer_method(pb.StatusReply)
    async def DeleteFile(self, request: ipb.ObjectRef) -> pb.StatusReply:
        await self.service.delete_file(request.project_id, request.id)
        return pb.StatusReply(status=ok())

    async def ReadContent(
        self, request: ipb.ContentRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ipb.ContentChunk]:
        """Streams bytes; an error is a first (and only) piece carrying the status."""
        try:
            name, content_type, path = await self._content(request)
            size = (await asyncio.to_thread(path.stat)).st_size
        except QuiverError as error:
            yield ipb.ContentChunk(status=status_of(error))
            return
        except FileNotFoundError:
            yield ipb.ContentChunk(status=status_of(QuiverError(ErrorCode.RESOURCE_NOT_FOUND, "the bytes are gone")))
            return
        yield ipb.ContentChunk(status=ok(), name=name, content_type=content_type, size=size)
        with open(path, "rb") as source:
            while data := await asyncio.to_thread(source.read, READ_CHUNK_BYTES):
                yield ipb.ContentChunk(data=data)

    async def _content(self, request: ipb.ContentRef) -> tuple[str, str, Path]:
        if request.file_id:
            stored = await self.service.file(request.project_id, request.file_id)
            return stored.name, stored.content_type, self.service.files.blobs.path(stored.content_hash)
        name = request.attachment_name
        path = await self.service.attachment_path(request.project_id, request.attachment_source_id, name)
        return Path(name).name, "image/png" if name.endswith(".png") else "application/json", path

    # -- configurations ----------------------------------------------------------------------

    @servicer_method(ipb.ConfigurationReply)
    async def UpsertConfiguration(self, request: ipb.ConfigurationRequest) -> ipb.ConfigurationReply:
        config = await self.service.upsert_configuration(
            request.project_id, request.name, orjson.loads(request.parameters_json)
        )
        return ipb.ConfigurationReply(status=ok(), configuration=_configuration(config))

    @servicer_method(ipb.ConfigurationReply)
    async def GetConfiguration(self, request: ipb.ObjectRef) -> ipb.ConfigurationReply:
        config = await self.service.configuration(request.project_id, request.id)
        return ipb.ConfigurationReply(status=ok(), configuration=_configuration(config))

    @servicer_method(ipb.ConfigurationsReply)
    async def ListConfigurations(self, request: ipb.ListConfigurationsRequest) -> ipb.ConfigurationsReply:
        found, token = await self.service.list_configurations(
            request.project_id, *_page(request.page), request.name, list(request.product_types)
        )
        return ipb.ConfigurationsReply(
            status=ok(), configurations=[_configuration(c) for c in found], next_page_token=token
        )

    @servicer_method(ipb.ConfigurationReply)
    async def UpdateConfiguration(self, request: ipb.ConfigurationRequest) -> ipb.ConfigurationReply:
        config = await self.service.update_configuration(
            request.project_id, request.id,
            request.name if request.HasField("name") else None,
            _json_object(request.parameters_json),
        )
        return ipb.ConfigurationReply(status=ok(), configuration=_configuration(config))

    @servicer_method(pb.StatusReply)
    async def DeleteConfiguration(self, request: ipb.ObjectRef) -> pb.StatusReply:
        await self.service.delete_configuration(request.project_id, request.id)
        return pb.StatusReply(status=ok())

    # -- indexes -----------------------------------------------------------------------------

    @servicer_method(ipb.ManagedIndexReply)
    async def CreateIndex(self, request: ipb.CreateManagedIndexRequest) -> ipb.ManagedIndexReply:
        view = await self.service.create_index(
            request.project_id,
            request.source_directory_id,
            request.name if request.HasField("name") else None,
            request.description,
            [(p.product_config_id, p.product_type) for p in request.products],
            list(request.store_attachments),
            request.sync_frequency or "manual",
            request.vector_target or "DEFAULT",
        )
        return ipb.ManagedIndexReply(status=ok(), index=_index(view))

    @servicer_method(ipb.ManagedIndexReply)
    async def GetIndex(self, request: ipb.ObjectRef) -> ipb.ManagedIndexReply:
        view = await self.service.view(await self.service.index(request.project_id, request.id))
        return ipb.ManagedIndexReply(status=ok(), index=_index(view))

    @servicer_method(ipb.ManagedIndexesReply)
    async def ListIndexes(self, request: ipb.ListManagedIndexesRequest) -> ipb.ManagedIndexesReply:
        views, token = await self.service.list_indexes(
            request.project_id, *_page(request.page), request.source_directory_id
        )
        return ipb.ManagedIndexesReply(status=ok(), indexes=[_index(v) for v in views], next_page_token=token)

    @servicer_method(pb.StatusReply)
    async def DeleteIndex(self, request: ipb.ObjectRef) -> pb.StatusReply:
        await self.service.delete_index(request.project_id, request.id)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def SyncIndex(self, request: ipb.ObjectRef) -> pb.StatusReply:
        await self.service.sync_index(request.project_id, request.id)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def CancelSync(self, request: ipb.ObjectRef) -> pb.StatusReply:
        await self.service.cancel_sync(request.project_id, request.id)
        return pb.StatusReply(status=ok())

    # -- attachments and retrieval -----------------------------------------------------------

    @servicer_method(ipb.AttachmentsReply)
    async def ListAttachments(self, request: ipb.ListAttachmentsRequest) -> ipb.AttachmentsReply:
        found, token = await self.service.list_attachments(
            request.project_id, request.source_id, *_page(request.page)
        )
        return ipb.AttachmentsReply(
            status=ok(),
            attachments=[ipb.Attachment(name=n, size=e["size"], modified_ms=e["modified_ms"]) for n, e in found],
            next_page_token=token,
        )

    @servicer_method(ipb.RetrieveReply)
    async def Retrieve(self, request: ipb.RetrieveRequest) -> ipb.RetrieveReply:
        query = Query(
            index_id=request.index_id,
            text=request.query,
            top_k=request.top_k,
            score_threshold=request.score_threshold if request.HasField("score_threshold") else None,
            num_candidates=request.num_candidates,
            vector_weight=request.vector_weight if request.HasField("vector_weight") else None,
            full_text_weight=request.full_text_weight if request.HasField("full_text_weight") else None,
            conditions=tuple(
                Condition(f.field, f.operator, orjson.loads(f.value_json), f.built_in) for f in request.filters
            ),
            rerank_top_n=request.rerank_top_n,
        )
        hits = await self.retriever.retrieve(request.project_id, query)
        return ipb.RetrieveReply(status=ok(), chunks=[_chunk(h) for h in hits])


# -- dataclasses to protobuf ---------------------------------------------------------------------


def _upload(header: ipb.UploadChunk) -> Upload:
    optional = lambda name: getattr(header, name) if header.HasField(name) else None  # noqa: E731
    return Upload(
        project_id=header.project_id,
        directory_id=header.directory_id,
        purpose=header.purpose,
        file_name=header.file_name,
        content_type=header.content_type,
        display_name=optional("display_name"),
        unique_id=optional("unique_id"),
        external_file_id=optional("external_file_id"),
        metadata=_json_object(header.metadata_json) if header.HasField("metadata_json") else None,
    )


def _directory(d: Directory) -> ipb.Directory:
    return ipb.Directory(
        id=d.id, project_id=d.project_id, name=d.name, description=d.description, type=d.type,
        created_ms=d.created_ms, updated_ms=d.updated_ms, deleted_ms=d.deleted_ms,
    )


def _file(f: StoredFile) -> ipb.File:
    return ipb.File(
        id=f.id, project_id=f.project_id, name=f.name, file_type=f.file_type, purpose=f.purpose,
        external_file_id=f.external_file_id, content_type=f.content_type, content_hash=f.content_hash,
        size=f.size, created_ms=f.created_ms, updated_ms=f.created_ms,
    )


def _directory_file(f: DirectoryFile) -> ipb.DirectoryFile:
    return ipb.DirectoryFile(
        id=f.id, directory_id=f.directory_id, project_id=f.project_id, display_name=f.display_name,
        unique_id=f.unique_id, file_id=f.file_id, metadata_json=orjson.dumps(f.metadata).decode(),
        created_ms=f.created_ms, updated_ms=f.updated_ms, deleted_ms=f.deleted_ms,
    )


def _configuration(c: Configuration) -> ipb.Configuration:
    return ipb.Configuration(
        id=c.id, project_id=c.project_id, name=c.name, product_type=c.product_type,
        parameters_json=orjson.dumps(c.parameters).decode(), version_ms=c.version_ms,
        created_ms=c.created_ms, updated_ms=c.updated_ms,
    )


def _index(view: IndexView) -> ipb.ManagedIndex:
    i, state = view.index, view.state
    return ipb.ManagedIndex(
        id=i.id, project_id=i.project_id, name=i.name, description=i.description,
        source_directory_id=i.source_directory_id, output_directory_id=i.output_directory_id,
        export_config_id=i.export_config_id, sync_config_id=i.sync_config_id,
        products=[ipb.Product(product_config_id=c, product_type=t) for c, t in i.products],
        store_attachments=list(i.store_attachments), sync_frequency=i.sync_frequency,
        vector_target=i.vector_target, created_ms=i.created_ms, updated_ms=i.updated_ms,
        last_synced_ms=state.last_synced_ms, last_exported_ms=state.last_exported_ms,
        metadata_json=orjson.dumps(view.metadata).decode(), sync_in_progress=view.sync_in_progress,
    )


def _chunk(hit: Hit) -> ipb.RetrievedChunk:
    return ipb.RetrievedChunk(
        content=hit.content, score=hit.score, metadata_json=orjson.dumps(hit.metadata).decode(),
        directory_file_id=hit.file_id, chunk_index=hit.chunk_index, start_char=hit.start_char,
        end_char=hit.end_char, token_count=hit.token_count, page_start=hit.page_start, page_end=hit.page_end,
        attachments=[ipb.RetrievedAttachment(attachment_name=n, source_id=s, type=t) for n, s, t in hit.attachments],
    )
