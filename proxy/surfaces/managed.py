"""Managed document indexes: LlamaCloud's API (`/api/v1/...`) on the REST v2 port.

Paths and JSON shapes are LlamaCloud's, so its official SDK (`llama-cloud`, base_url pointed
here) works unchanged: source directories and their files, project files, product
configurations, indexes over directories (create, get, list, delete, sync, cancel), retrieval,
and attachments. Requests are validated here the way LlamaCloud's FastAPI server does (422
with a `detail` list of `loc`, `msg`, `type`) and translated into calls to an ingest node,
which keeps the state and does the work; this module keeps nothing.

Beyond LlamaCloud: `POST /api/v1/beta/directories/{id}/files/import` registers the files of a
server-side folder (below the ingest node's --import-root), and the presigned URLs it hands
out for file contents and attachments are routes of this surface that need the same
credentials as the rest. `POST /api/v1/api-keys` issues an API key for the caller (root: for
any user), which the coordinator makes; LlamaCloud's SDK has no call for it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote, unquote

import grpc
import orjson
from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from managed.api import (
    ATTACHMENT_KINDS,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PROJECT_ID,
    DEFAULT_PROJECT_NAME,
    DIRECTORY_TYPES,
    FILE_PURPOSES,
    FILTER_OPERATORS,
    INDEX_PRODUCTS,
    MAX_TOP_K,
    PRODUCT_TYPES,
    SYNC_FREQUENCIES,
    VECTOR_TARGETS,
    iso_time,
)
from proxy.errors import managed_error_middleware
from proxy.http import json_response, read_limited
from proxy.openapi import document_handler
from proxy.surfaces.auth import CALLER, Access, check_privilege
from proxy.surfaces.limits import (
    CONTROL_BODY_BYTES,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
)
from quiver.cluster import ClusterClient
from quiver.errors import ErrorCode, QuiverError
from quiver.rpc import Channels, call, check, request_metadata, rpc_error
from quiver_pb import ingestnode_pb2 as ipb
from quiver_pb.ingestnode_pb2_grpc import IngestNodeStub

UPLOAD_PIECE_BYTES = 1024 * 1024
MAX_FORM_FIELD_BYTES = 64 * 1024
PRESIGNED_URL_TTL_S = 3600
UPLOAD_TIMEOUT_S = 3600.0
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class ManagedSettings:
    ingest_nodes: tuple[str, ...]  # host:port of each; empty: the surface answers 503
    max_upload_bytes: int = 1024 * 1024 * 1024


# -- errors ----------------------------------------------------------------------------------------


class RequestInvalid(Exception):
    """The request does not validate: FastAPI's 422, with one entry per problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def at(cls, loc: list[str | int], msg: str, kind: str = "value_error") -> RequestInvalid:
        return cls([{"loc": loc, "msg": msg, "type": kind}])

    @classmethod
    def of(cls, error: ValidationError, prefix: str) -> RequestInvalid:
        return cls([{"loc": [prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in error.errors()])


def render_error(status: int, code: int, message: str) -> web.Response:
    if status == 422:
        body: Any = {"detail": [{"loc": ["body"], "msg": message, "type": "value_error"}]}
    else:
        body = {"detail": message}
    response = json_response(body, status=status)
    if status == 409:  # a conflict stays a conflict: the SDK would otherwise retry it 5 times
        response.headers["x-should-retry"] = "false"
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def validation(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestInvalid as invalid:
        return json_response({"detail": invalid.errors}, status=422)


# -- request models ----------------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")  # as FastAPI: unknown keys are ignored


# Strings are bounded (limits.py): ids, names and tokens are labels; descriptions, queries and
# metadata values are texts.
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
# The members of these unions keep their plain types, so that a value of none of them is
# refused with the errors FastAPI gives ("str", "list[...]"); their texts are bounded after.
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
MetadataValue = StrictBool | StrictInt | StrictFloat | StrictStr | list[StrictStr] | None


def _texts_bounded(value: Any) -> Any:
    """Refuses a string, or a list with a string, of more than MAX_TEXT_CHARS characters."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and len(item) > MAX_TEXT_CHARS:
            raise ValueError(f"a value takes at most {MAX_TEXT_CHARS} characters")
    return value


UserMetadata = dict[Label, Annotated[MetadataValue, AfterValidator(_texts_bounded)]]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
PAGE_LIST = r"^\s*\d+\s*(-\s*\d+\s*)?(,\s*\d+\s*(-\s*\d+\s*)?)*$"  # 1,3,5-8


class ProjectQuery(Model):
    project_id: Label | None = None
    organization_id: Label | None = None


class OrganizationQuery(Model):
    organization_id: Label | None = None


class ProjectListQuery(OrganizationQuery):
    project_name: Label | None = None


class PageQuery(ProjectQuery):
    page_size: PageSize = DEFAULT_PAGE_SIZE
    page_token: Label = ""


class DirectoryCreate(Model):
    name: Name
    description: Text | None = None
    type: Literal["user", "ephemeral"] = "user"
    connector_subscription_id: None = None  # connectors are not supported: only null passes


class DirectoryUpdate(Model):
    name: Name | None = None
    description: Text | None = None


class DirectoryListQuery(PageQuery):
    name: Label = ""
    type: Literal[DIRECTORY_TYPES] | None = None  # type: ignore[valid-type]
    types: list[Literal[DIRECTORY_TYPES]] = []  # type: ignore[valid-type]
    include_deleted: bool = False


class DirectoryFileAdd(Model):
    file_id: Name
    display_name: Name | None = None
    unique_id: Name | None = None
    metadata: UserMetadata | None = None


class DirectoryFileListQuery(PageQuery):
    display_name: Label = ""
    display_name_contains: Label = ""
    unique_id: Label = ""
    file_id: Label = ""
    include_deleted: bool = False
    updated_at_on_or_after: datetime | None = None
    updated_at_on_or_before: datetime | None = None


class DirectoryImport(Model):
    path: Label = ""  # relative to the ingest node's import root
    glob: Label = "**/*"

    @field_validator("path")
    @classmethod
    def relative_path(cls, path: str) -> str:
        if path.startswith("/") or ".." in path.replace("\\", "/").split("/"):
            raise ValueError("path must be relative to the import root, without '..'")
        return path


class FileListQuery(PageQuery):
    purpose: Literal[FILE_PURPOSES] | None = None  # type: ignore[valid-type]


class PageRanges(Model):
    max_pages: int | None = Field(None, ge=1)
    target_pages: Annotated[str, Field(pattern=PAGE_LIST, max_length=MAX_LABEL_CHARS)] | None = None


class ParseParameters(Model):
    model_config = ConfigDict(extra="allow")  # kept as given: Quiver honours page_ranges
    product_type: Literal["parse_v2"]
    tier: Literal["agentic", "agentic_plus", "cost_effective", "fast"]
    version: Label
    page_ranges: PageRanges | None = None


class ExtractParameters(Model):
    model_config = ConfigDict(extra="allow")
    product_type: Literal["extract_v2"]
    data_schema: dict[str, Any]


class OtherParameters(Model):
    model_config = ConfigDict(extra="allow")
    product_type: Literal["classify_v2", "split_v1", "spreadsheet_v1", "unknown"]


Parameters = Annotated[ParseParameters | ExtractParameters | OtherParameters, Field(discriminator="product_type")]


class ConfigurationCreate(Model):
    name: Name
    parameters: Parameters


class ConfigurationUpdate(Model):
    name: Name | None = None
    parameters: Parameters | None = None


class ConfigurationListQuery(PageQuery):
    name: Label = ""
    product_type: list[Literal[PRODUCT_TYPES]] = []  # type: ignore[valid-type]
    latest_only: bool = False  # a name has one configuration here, so every list is "latest"


class Product(Model):
    product_config_id: Name
    product_type: Literal["parse", "extract"]


class IndexCreate(Model):
    source_directory_id: Name
    description: Text | None = None
    name: Name | None = None
    products: Annotated[list[Product], Field(max_length=len(INDEX_PRODUCTS))] | None = None
    store_attachments: list[Literal[ATTACHMENT_KINDS]] | None = None  # type: ignore[valid-type]
    sync_frequency: Literal[SYNC_FREQUENCIES] = "manual"  # type: ignore[valid-type]
    vector_target: Literal[VECTOR_TARGETS] = "DEFAULT"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def one_product_per_type(self) -> IndexCreate:
        types = [p.product_type for p in self.products or []]
        if len(types) != len(set(types)):
            raise ValueError("products: include at most one entry per product type")
        return self


class IndexListQuery(PageQuery):
    source_directory_id: Label = ""


class IndexGetQuery(ProjectQuery):
    expand: list[Literal["sync_in_progress"]] = []


class FieldCondition(Model):
    operator: Literal[FILTER_OPERATORS]  # type: ignore[valid-type]
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def value_fits_operator(self) -> FieldCondition:
        listed = isinstance(self.value, list)
        if listed and len(self.value) > MAX_FILTER_VALUES:  # type: ignore[arg-type]
            raise ValueError(f"a condition takes at most {MAX_FILTER_VALUES} values")
        _texts_bounded(self.value)
        if self.operator in ("in", "nin") and not listed:
            raise ValueError(f"operator {self.operator!r} takes a list of values")
        if self.operator not in ("in", "nin") and listed:
            raise ValueError(f"operator {self.operator!r} takes a single value")
        return self


# One condition, or several that must all hold (the bounds of a range): a list either way.
Conditions = Annotated[
    list[FieldCondition],
    Field(max_length=MAX_FILTERS),
    BeforeValidator(lambda v: [v] if isinstance(v, dict) else v, json_schema_input_type=FieldCondition | list[FieldCondition]),
]


class StaticFilters(Model):
    model_config = ConfigDict(extra="forbid")  # an ignored filter would widen the results
    parsed_directory_file_id: Conditions | None = None
    chunk_index: Conditions | None = None
    page_range_start: Conditions | None = None
    page_range_end: Conditions | None = None


class Rerank(Model):
    enabled: bool = True
    top_n: int | None = Field(None, ge=1, le=MAX_TOP_K)


class Retrieve(Model):
    index_id: Name
    query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    top_k: int | None = Field(None, ge=1, le=2**31 - 1)  # capped at MAX_TOP_K
    score_threshold: float | None = None
    num_candidates: int | None = Field(None, ge=1, le=10_000)
    vector_pipeline_weight: float | None = Field(None, ge=0, le=1)
    full_text_pipeline_weight: float | None = Field(None, ge=0, le=1)
    rerank: Rerank | None = None
    custom_filters: Annotated[dict[Label, Conditions | None], Field(max_length=MAX_FILTERS)] | None = None
    static_filters: StaticFilters | None = None


class AttachmentQuery(PageQuery):
    source_id: Name


class ApiKeyCreate(Model):
    user: Name | None = None  # whom the key acts as (default: the caller); root may name anyone


M = TypeVar("M", bound=Model)


async def body_of(request: web.Request, model: type[M]) -> M:
    raw = await read_limited(request, CONTROL_BODY_BYTES)
    if not raw.strip():
        raise RequestInvalid.at(["body"], "Field required", "missing")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestInvalid.at(["body", error.pos], f"JSON decode error: {error.msg}", "json_invalid") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestInvalid.of(error, "body") from None


def query_of(request: web.Request, model: type[M]) -> M:
    """Query parameters; a parameter of a list type may repeat (?types=a&types=b)."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in request.query:
            listed = getattr(field.annotation, "__origin__", None) is list
            values[name] = request.query.getall(name) if listed else request.query[name]
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RequestInvalid.of(error, "query") from None


# -- the ingest nodes --------------------------------------------------------------------------------


class IngestNodes:
    """The ingest nodes this proxy forwards to. Any of them answers any call (their state is in
    Redis); calls go round-robin, skipping one that is unreachable."""

    def __init__(self, addresses: tuple[str, ...]) -> None:
        self._addresses = addresses
        self._channels = Channels()
        self._turn = itertools.count()

    async def close(self) -> None:
        await self._channels.close()

    def _rotation(self) -> list[str]:
        if not self._addresses:
            raise QuiverError(
                ErrorCode.UNAVAILABLE,
                "managed indexes need an ingest node: start the proxy with --ingestnode HOST:PORT",
            )
        start = next(self._turn) % len(self._addresses)
        return [*self._addresses[start:], *self._addresses[:start]]

    def stub(self) -> tuple[IngestNodeStub, str]:
        address = self._rotation()[0]
        return IngestNodeStub(self._channels.get(address)), f"ingest node at {address}"

    async def __call__(self, method: Callable[[IngestNodeStub], Any], request: Any) -> Any:
        """Calls `method` (a stub's RPC, e.g. `lambda stub: stub.GetIndex`) on the next ingest
        node, and on the others in turn while they are unavailable."""
        rotation = self._rotation()
        for position, address in enumerate(rotation):
            stub = IngestNodeStub(self._channels.get(address))
            try:
                return await call(method(stub), request, peer=f"ingest node at {address}")
            except QuiverError as error:
                if error.code is not ErrorCode.UNAVAILABLE or position == len(rotation) - 1:
                    raise
        raise AssertionError("unreachable")


INGEST = web.AppKey("ingest", IngestNodes)
SETTINGS = web.AppKey("managed_settings", ManagedSettings)
CLUSTER = web.AppKey("managed_cluster", ClusterClient)
ACCESS = web.AppKey("managed_access", Access)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`Authorization: Bearer <API key>` (or `user:password`) and the caller's rate limit,
    checked before anything else. The OpenAPI document is public."""
    if request.match_info.handler is not openapi:
        await request.app[ACCESS].admit(request)
    return await handler(request)


# -- rendering ---------------------------------------------------------------------------------------


def _directory(d: ipb.Directory) -> dict[str, Any]:
    return {
        "id": d.id, "name": d.name, "project_id": d.project_id, "description": d.description or None,
        "type": d.type, "connector_subscription_id": None, "system_metadata": None,
        "created_at": iso_time(d.created_ms), "updated_at": iso_time(d.updated_ms),
        "deleted_at": iso_time(d.deleted_ms), "expires_at": None,
    }


def _directory_file(f: ipb.DirectoryFile) -> dict[str, Any]:
    return {
        "id": f.id, "directory_id": f.directory_id, "display_name": f.display_name, "project_id": f.project_id,
        "unique_id": f.unique_id, "file_id": f.file_id, "metadata": orjson.loads(f.metadata_json or "{}"),
        "download_url": None, "created_at": iso_time(f.created_ms), "updated_at": iso_time(f.updated_ms),
        "deleted_at": iso_time(f.deleted_ms),
    }


def _file(f: ipb.File) -> dict[str, Any]:
    return {
        "id": f.id, "name": f.name, "project_id": f.project_id, "file_type": f.file_type or None,
        "purpose": f.purpose, "external_file_id": f.external_file_id or None, "expires_at": None,
        "last_modified_at": iso_time(f.updated_ms), "created_at": iso_time(f.created_ms),
        "updated_at": iso_time(f.updated_ms), "size": f.size, "download_url": None,
    }


def _configuration(c: ipb.Configuration) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "product_type": c.product_type,
        "parameters": orjson.loads(c.parameters_json), "version": iso_time(c.version_ms),
        "created_at": iso_time(c.created_ms), "updated_at": iso_time(c.updated_ms),
    }


def _index(i: ipb.ManagedIndex, expand: Sequence[str] = ()) -> dict[str, Any]:
    rendered = {
        "id": i.id, "name": i.name, "project_id": i.project_id, "description": i.description or None,
        "source_directory_id": i.source_directory_id, "output_directory_id": i.output_directory_id,
        "export_config_id": i.export_config_id, "sync_config_id": i.sync_config_id,
        "created_at": iso_time(i.created_ms), "updated_at": iso_time(i.updated_ms),
        "last_synced_at": iso_time(i.last_synced_ms), "last_exported_at": iso_time(i.last_exported_ms),
        "metadata": orjson.loads(i.metadata_json),
    }
    if "sync_in_progress" in expand:
        rendered["sync_in_progress"] = i.sync_in_progress
    return rendered


def _chunk(c: ipb.RetrievedChunk) -> dict[str, Any]:
    return {
        "content": c.content,
        "score": c.score,
        "rerank_score": None,  # Quiver has no reranking model
        "metadata": orjson.loads(c.metadata_json or "{}"),
        "static_fields": {
            "parsed_directory_file_id": c.directory_file_id,
            "chunk_index": c.chunk_index,
            "chunk_start_char": c.start_char,
            "chunk_end_char": c.end_char,
            "chunk_token_count": c.token_count,
            "page_range_start": c.page_start,
            "page_range_end": c.page_end,
            "attachments": [
                {"attachment_name": a.attachment_name, "source_id": a.source_id, "type": a.type}
                for a in c.attachments
            ],
        },
    }


def _page(items: list[Any], token: str) -> web.Response:
    return json_response({"items": items, "next_page_token": token or None})


def _presigned(request: web.Request, path: str) -> web.Response:
    """A download URL of this surface (it needs the same credentials as every route here)."""
    return json_response({
        "url": str(request.url.with_path(path, encoded=True).with_query(None)),
        "expires_at": iso_time(int((time.time() + PRESIGNED_URL_TTL_S) * 1000)),
        "form_fields": None,
    })


def _page_request(query: PageQuery) -> ipb.PageRequest:
    return ipb.PageRequest(page_size=query.page_size, page_token=query.page_token)


def _project(request: web.Request) -> str:
    return query_of(request, ProjectQuery).project_id or ""


# -- projects (the account calls) ---------------------------------------------------------------------

# The one project, which every directory, file and index belongs to (managed/api.py).
DEFAULT_PROJECT = {
    "id": DEFAULT_PROJECT_ID, "name": DEFAULT_PROJECT_NAME, "organization_id": DEFAULT_ORGANIZATION_ID,
    "is_default": True, "created_at": None, "updated_at": None,
}


def _in_default_organization(query: OrganizationQuery) -> bool:
    return query.organization_id in (None, DEFAULT_ORGANIZATION_ID)


async def list_projects(request: web.Request) -> web.Response:
    query = query_of(request, ProjectListQuery)
    named = query.project_name in (None, DEFAULT_PROJECT_NAME)
    return json_response([DEFAULT_PROJECT] if named and _in_default_organization(query) else [])


async def get_project(request: web.Request) -> web.Response:
    project_id = request.match_info["project_id"]
    if project_id != DEFAULT_PROJECT_ID or not _in_default_organization(query_of(request, OrganizationQuery)):
        raise QuiverError(ErrorCode.RESOURCE_NOT_FOUND, f"Project {project_id} not found")
    return json_response(DEFAULT_PROJECT)


# -- API keys ----------------------------------------------------------------------------------------


async def create_api_key(request: web.Request) -> web.Response:
    body = await body_of(request, ApiKeyCreate)
    user = body.user or request[CALLER]
    check_privilege(request, user)
    return json_response({"api_key": await request.app[CLUSTER].create_api_key(user), "user": user})


# -- directories -------------------------------------------------------------------------------------


async def create_directory(request: web.Request) -> web.Response:
    body = await body_of(request, DirectoryCreate)
    reply = await request.app[INGEST](lambda stub: stub.CreateDirectory, ipb.CreateDirectoryRequest(
        project_id=_project(request), name=body.name, description=body.description or "", type=body.type))
    return json_response(_directory(reply.directory))


async def list_directories(request: web.Request) -> web.Response:
    query = query_of(request, DirectoryListQuery)
    types = [*query.types, *([query.type] if query.type else [])]
    reply = await request.app[INGEST](lambda stub: stub.ListDirectories, ipb.ListDirectoriesRequest(
        project_id=query.project_id or "", page=_page_request(query), name=query.name, types=types,
        include_deleted=query.include_deleted))
    return _page([_directory(d) for d in reply.directories], reply.next_page_token)


async def get_directory(request: web.Request) -> web.Response:
    reply = await request.app[INGEST](lambda stub: stub.GetDirectory, _ref(request, "directory_id"))
    return json_response(_directory(reply.directory))


async def update_directory(request: web.Request) -> web.Response:
    body = await body_of(request, DirectoryUpdate)
    update = ipb.UpdateDirectoryRequest(project_id=_project(request), id=request.match_info["directory_id"])
    if body.name is not None:
        update.name = body.name
    if body.description is not None:
        update.description = body.description
    reply = await request.app[INGEST](lambda stub: stub.UpdateDirectory, update)
    return json_response(_directory(reply.directory))


async def delete_directory(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.DeleteDirectory, _ref(request, "directory_id"))
    return web.Response(status=204)


def _ref(request: web.Request, key: str) -> ipb.ObjectRef:
    return ipb.ObjectRef(project_id=_project(request), id=request.match_info[key])


# -- uploads -----------------------------------------------------------------------------------------


async def upload_to_directory(request: web.Request) -> web.Response:
    """Multipart: the file in `upload_file`; `display_name`, `unique_id`, `external_file_id`,
    and `metadata` (a JSON object as text) optional."""
    directory_id = request.match_info["directory_id"]
    project = _project(request)
    await request.app[INGEST](lambda stub: stub.GetDirectory, ipb.ObjectRef(project_id=project, id=directory_id))  # 404 early
    header = ipb.UploadChunk(project_id=project, directory_id=directory_id, purpose="user_data")
    reply = await _upload(request, header, "upload_file", _directory_upload_field, required=())
    return json_response(_directory_file(reply.directory_file))


async def create_file(request: web.Request) -> web.Response:
    """Multipart: the file in `file`, its `purpose`, and `external_file_id` optional."""
    header = ipb.UploadChunk(project_id=_project(request))
    reply = await _upload(request, header, "file", _file_upload_field, required=("purpose",))
    return json_response(_file(reply.file))


def _directory_upload_field(name: str, value: str) -> ipb.UploadChunk | None:
    if name in ("display_name", "unique_id", "external_file_id"):
        if not value:
            raise RequestInvalid.at(["body", name], "String should have at least 1 character", "string_too_short")
        return ipb.UploadChunk(**{name: _label(name, value)})
    if name == "metadata":
        return ipb.UploadChunk(metadata_json=_metadata_text(value))
    return None  # unknown form fields are ignored, as FastAPI does


def _file_upload_field(name: str, value: str) -> ipb.UploadChunk | None:
    if name == "purpose":
        if value not in FILE_PURPOSES:
            raise RequestInvalid.at(["body", "purpose"], f"Input should be one of {', '.join(FILE_PURPOSES)}",
                                    "literal_error")
        return ipb.UploadChunk(purpose=value)
    if name == "external_file_id":
        return ipb.UploadChunk(external_file_id=_label(name, value))
    return None


def _label(name: str, value: str) -> str:
    """A name given in a form: bounded, and without control characters (NUL among them),
    which no file or display name needs. It is only ever kept as data: files are stored
    under their content's hash, never under a name a client chose."""
    if len(value) > MAX_LABEL_CHARS:
        raise RequestInvalid.at(["body", name], f"String should have at most {MAX_LABEL_CHARS} characters",
                                "string_too_long")
    if not value.isprintable():
        raise RequestInvalid.at(["body", name], "control characters are not allowed", "value_error")
    return value


def _metadata_text(value: str) -> str:
    """User metadata given as the text of a JSON object, checked and re-serialised."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise RequestInvalid.at(["body", "metadata"], "metadata must be the text of a JSON object", "json_invalid") from None
    try:
        checked = _MetadataField.model_validate({"metadata": parsed})
    except ValidationError as error:
        raise RequestInvalid.of(error, "body") from None
    return orjson.dumps(checked.metadata).decode()


class _MetadataField(Model):
    metadata: UserMetadata


FormField = Callable[[str, str], "ipb.UploadChunk | None"]


async def _upload(
    request: web.Request, header: ipb.UploadChunk, file_field: str, field: FormField, required: tuple[str, ...]
) -> Any:
    """Streams a multipart form to an ingest node's UploadFile: form fields as they come, the
    file in pieces, never the whole file in memory."""
    if not request.content_type.startswith("multipart/"):
        raise RequestInvalid.at(["body", file_field], "Field required (send multipart/form-data)", "missing")
    try:
        reader = await request.multipart()
    except ValueError as error:  # no boundary, or a bad one
        raise RequestInvalid.at(["body"], f"malformed multipart body: {error}") from None
    stub, peer = request.app[INGEST].stub()
    stream = stub.UploadFile(timeout=UPLOAD_TIMEOUT_S, metadata=request_metadata())
    try:
        await stream.write(header)
        try:
            sent = await _send_form(reader, stream, file_field, field, request.app[SETTINGS].max_upload_bytes)
        except (HttpProcessingError, ValueError) as error:  # what aiohttp's reader raises on a malformed body
            raise RequestInvalid.at(["body"], f"malformed multipart body: {error}") from None
        missing = [name for name in (file_field, *required) if name not in sent]
        if missing:
            raise RequestInvalid([{"loc": ["body", name], "msg": "Field required", "type": "missing"} for name in missing])
        await stream.write(ipb.UploadChunk(end=True))
        await stream.done_writing()
        reply = await stream
    except grpc.aio.AioRpcError as error:
        raise rpc_error(error, peer) from None
    except BaseException:
        stream.cancel()  # the ingest node drops what it received
        raise
    check(reply.status)
    return reply


async def _send_form(
    reader: MultipartReader, stream: Any, file_field: str, field: FormField, max_bytes: int
) -> set[str]:
    """Forwards every part; returns the names of the parts sent (the file's among them)."""
    sent: set[str] = set()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise RequestInvalid.at(["body"], "nested multipart forms are not supported")
        if part.name == file_field and part.filename is not None:
            if file_field in sent:
                raise RequestInvalid.at(["body", file_field], "only one file may be uploaded at a time")
            sent.add(file_field)
            await _send_file(part, stream, max_bytes)
            continue
        value = (await part.read_chunk(MAX_FORM_FIELD_BYTES + 1)).decode("utf-8", errors="replace")
        if len(value) > MAX_FORM_FIELD_BYTES:
            raise RequestInvalid.at(["body", part.name or ""], f"form fields are limited to {MAX_FORM_FIELD_BYTES} bytes")
        piece = field(part.name or "", value)
        if piece is not None:
            sent.add(part.name or "")
            await stream.write(piece)
    return sent


async def _send_file(part: BodyPartReader, stream: Any, max_bytes: int) -> None:
    content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
    name = _label("filename", part.filename or "upload")
    await stream.write(ipb.UploadChunk(file_name=name, content_type=_label("content-type", content_type)))
    size = 0
    while data := await part.read_chunk(UPLOAD_PIECE_BYTES):
        size += len(data)
        if size > max_bytes:
            raise QuiverError(ErrorCode.REQUEST_TOO_LARGE, f"uploads are limited to {max_bytes} bytes")
        await stream.write(ipb.UploadChunk(data=data))


# -- directory files ---------------------------------------------------------------------------------


async def add_directory_file(request: web.Request) -> web.Response:
    body = await body_of(request, DirectoryFileAdd)
    add = ipb.AddDirectoryFileRequest(
        project_id=_project(request), directory_id=request.match_info["directory_id"], file_id=body.file_id)
    if body.display_name is not None:
        add.display_name = body.display_name
    if body.unique_id is not None:
        add.unique_id = body.unique_id
    if body.metadata is not None:
        add.metadata_json = orjson.dumps(body.metadata).decode()
    reply = await request.app[INGEST](lambda stub: stub.AddDirectoryFile, add)
    return json_response(_directory_file(reply.directory_file))


async def import_directory_files(request: web.Request) -> web.Response:
    body = await body_of(request, DirectoryImport)
    reply = await request.app[INGEST](lambda stub: stub.ImportFiles, ipb.ImportFilesRequest(
        project_id=_project(request), directory_id=request.match_info["directory_id"], path=body.path,
        glob=body.glob))
    return json_response({"items": [_directory_file(f) for f in reply.directory_files], "skipped": list(reply.skipped)})


async def list_directory_files(request: web.Request) -> web.Response:
    query = query_of(request, DirectoryFileListQuery)
    reply = await request.app[INGEST](lambda stub: stub.ListDirectoryFiles, ipb.ListDirectoryFilesRequest(
        project_id=query.project_id or "", directory_id=request.match_info["directory_id"],
        page=_page_request(query), display_name=query.display_name,
        display_name_contains=query.display_name_contains, unique_id=query.unique_id, file_id=query.file_id,
        include_deleted=query.include_deleted,
        updated_at_on_or_after_ms=_epoch_ms(query.updated_at_on_or_after),
        updated_at_on_or_before_ms=_epoch_ms(query.updated_at_on_or_before),
    ))
    return _page([_directory_file(f) for f in reply.directory_files], reply.next_page_token)


def _epoch_ms(moment: datetime | None) -> int:
    """0 for none; a time without a zone is UTC."""
    if moment is None:
        return 0
    try:
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    except (OverflowError, ValueError):  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise RequestInvalid.at(["query"], f"{moment.isoformat()} is out of range", "datetime_parsing") from None


def _file_ref(request: web.Request) -> ipb.DirectoryFileRef:
    return ipb.DirectoryFileRef(
        project_id=_project(request), directory_id=request.match_info["directory_id"],
        id=request.match_info["directory_file_id"])


async def get_directory_file(request: web.Request) -> web.Response:
    reply = await request.app[INGEST](lambda stub: stub.GetDirectoryFile, _file_ref(request))
    return json_response(_directory_file(reply.directory_file))


async def delete_directory_file(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.DeleteDirectoryFile, _file_ref(request))
    return web.Response(status=204)


# -- project files -----------------------------------------------------------------------------------


async def list_files(request: web.Request) -> web.Response:
    query = query_of(request, FileListQuery)
    reply = await request.app[INGEST](lambda stub: stub.ListFiles, ipb.ListFilesRequest(
        project_id=query.project_id or "", page=_page_request(query), purpose=query.purpose or ""))
    return _page([_file(f) for f in reply.files], reply.next_page_token)


async def get_file(request: web.Request) -> web.Response:
    reply = await request.app[INGEST](lambda stub: stub.GetFile, _ref(request, "file_id"))
    return json_response(_file(reply.file))


async def delete_file(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.DeleteFile, _ref(request, "file_id"))
    return web.Response(status=204)


async def file_content_url(request: web.Request) -> web.Response:
    reply = await request.app[INGEST](lambda stub: stub.GetFile, _ref(request, "file_id"))
    return _presigned(request, f"/api/v1/beta/files/{quote(reply.file.id)}/download")


async def download_file(request: web.Request) -> web.StreamResponse:
    ref = ipb.ContentRef(project_id=_project(request), file_id=request.match_info["file_id"])
    return await _stream_content(request, ref)


async def _stream_content(request: web.Request, ref: ipb.ContentRef) -> web.StreamResponse:
    stub, peer = request.app[INGEST].stub()
    pieces: AsyncIterator[ipb.ContentChunk] = stub.ReadContent(ref, metadata=request_metadata())
    response: web.StreamResponse | None = None
    try:
        async for piece in pieces:
            if response is None:
                check(piece.status)
                response = web.StreamResponse(headers={
                    hdrs.CONTENT_TYPE: piece.content_type or "application/octet-stream",
                    hdrs.CONTENT_LENGTH: str(piece.size),
                    hdrs.CONTENT_DISPOSITION: f"attachment; filename*=UTF-8''{quote(piece.name)}",
                })
                await response.prepare(request)
            else:
                await response.write(piece.data)
    except grpc.aio.AioRpcError as error:
        raise rpc_error(error, peer) from None
    if response is None:
        raise QuiverError(ErrorCode.UNAVAILABLE, f"{peer} sent no content")
    await response.write_eof()
    return response


# -- configurations ----------------------------------------------------------------------------------


async def create_configuration(request: web.Request) -> web.Response:
    body = await body_of(request, ConfigurationCreate)
    reply = await request.app[INGEST](lambda stub: stub.UpsertConfiguration, ipb.ConfigurationRequest(
        project_id=_project(request), name=body.name,
        parameters_json=orjson.dumps(body.parameters.model_dump(exclude_none=True)).decode()))
    return json_response(_configuration(reply.configuration))


async def list_configurations(request: web.Request) -> web.Response:
    query = query_of(request, ConfigurationListQuery)
    reply = await request.app[INGEST](lambda stub: stub.ListConfigurations, ipb.ListConfigurationsRequest(
        project_id=query.project_id or "", page=_page_request(query), name=query.name,
        product_types=query.product_type))
    return _page([_configuration(c) for c in reply.configurations], reply.next_page_token)


async def get_configuration(request: web.Request) -> web.Response:
    reply = await request.app[INGEST](lambda stub: stub.GetConfiguration, _ref(request, "config_id"))
    return json_response(_configuration(reply.configuration))


async def update_configuration(request: web.Request) -> web.Response:
    body = await body_of(request, ConfigurationUpdate)
    update = ipb.ConfigurationRequest(project_id=_project(request), id=request.match_info["config_id"])
    if body.name is not None:
        update.name = body.name
    if body.parameters is not None:
        update.parameters_json = orjson.dumps(body.parameters.model_dump(exclude_none=True)).decode()
    reply = await request.app[INGEST](lambda stub: stub.UpdateConfiguration, update)
    return json_response(_configuration(reply.configuration))


async def delete_configuration(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.DeleteConfiguration, _ref(request, "config_id"))
    return web.Response(status=204)


# -- indexes -----------------------------------------------------------------------------------------


async def create_index(request: web.Request) -> web.Response:
    body = await body_of(request, IndexCreate)
    create = ipb.CreateManagedIndexRequest(
        project_id=_project(request), source_directory_id=body.source_directory_id,
        description=body.description or "",
        products=[ipb.Product(product_config_id=p.product_config_id, product_type=p.product_type)
                  for p in body.products or []],
        store_attachments=sorted(set(body.store_attachments or [])),
        sync_frequency=body.sync_frequency, vector_target=body.vector_target,
    )
    if body.name is not None:
        create.name = body.name
    reply = await request.app[INGEST](lambda stub: stub.CreateIndex, create)
    return json_response(_index(reply.index))


async def list_indexes(request: web.Request) -> web.Response:
    query = query_of(request, IndexListQuery)
    reply = await request.app[INGEST](lambda stub: stub.ListIndexes, ipb.ListManagedIndexesRequest(
        project_id=query.project_id or "", page=_page_request(query), source_directory_id=query.source_directory_id))
    return _page([_index(i) for i in reply.indexes], reply.next_page_token)


async def get_index(request: web.Request) -> web.Response:
    query = query_of(request, IndexGetQuery)
    reply = await request.app[INGEST](lambda stub: stub.GetIndex, _ref(request, "index_id"))
    return json_response(_index(reply.index, query.expand))


async def delete_index(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.DeleteIndex, _ref(request, "index_id"))
    return web.Response(status=204)


async def sync_index(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.SyncIndex, _ref(request, "index_id"))
    return json_response({})


async def cancel_sync(request: web.Request) -> web.Response:
    await request.app[INGEST](lambda stub: stub.CancelSync, _ref(request, "index_id"))
    return json_response({})


# -- retrieval and attachments -----------------------------------------------------------------------


async def retrieve(request: web.Request) -> web.Response:
    body = await body_of(request, Retrieve)
    find = ipb.RetrieveRequest(
        project_id=_project(request), index_id=body.index_id, query=body.query,
        top_k=min(body.top_k or DEFAULT_TOP_K, MAX_TOP_K), num_candidates=body.num_candidates or 0,
        filters=_conditions(body),
    )
    if body.score_threshold is not None:
        find.score_threshold = body.score_threshold
    if body.vector_pipeline_weight is not None:
        find.vector_weight = body.vector_pipeline_weight
    if body.full_text_pipeline_weight is not None:
        find.full_text_weight = body.full_text_pipeline_weight
    if body.rerank is not None and body.rerank.enabled and body.rerank.top_n:
        find.rerank_top_n = body.rerank.top_n
    reply = await request.app[INGEST](lambda stub: stub.Retrieve, find)
    return json_response({"results": [_chunk(c) for c in reply.chunks]})


def _conditions(body: Retrieve) -> list[ipb.FieldFilter]:
    filters = []
    groups = [(name, value, False) for name, value in (body.custom_filters or {}).items()]
    if body.static_filters is not None:
        groups += [(name, getattr(body.static_filters, name), True) for name in StaticFilters.model_fields]
    for name, conditions, built_in in groups:
        for condition in conditions or []:
            filters.append(ipb.FieldFilter(field=name, operator=condition.operator,
                                           value_json=orjson.dumps(condition.value).decode(), built_in=built_in))
    return filters


async def list_attachments(request: web.Request) -> web.Response:
    query = query_of(request, AttachmentQuery)
    reply = await request.app[INGEST](lambda stub: stub.ListAttachments, ipb.ListAttachmentsRequest(
        project_id=query.project_id or "", source_id=query.source_id, page=_page_request(query)))
    return _page([{"name": a.name, "size": a.size, "last_modified": iso_time(a.modified_ms)}
                  for a in reply.attachments], reply.next_page_token)


async def attachment_url(request: web.Request) -> web.Response:
    query = query_of(request, AttachmentQuery)
    name = unquote(request.match_info["attachment_name"])
    await _require_attachment(request, query, name)
    return _presigned(request, f"/api/v1/beta/attachments/content/{quote(query.source_id)}/{quote(name)}")


async def _require_attachment(request: web.Request, query: AttachmentQuery, name: str) -> None:
    """404 now, rather than from the URL: the attachment must exist."""
    reply = await request.app[INGEST](lambda stub: stub.ListAttachments, ipb.ListAttachmentsRequest(
        project_id=query.project_id or "", source_id=query.source_id, page=ipb.PageRequest(page_size=MAX_PAGE_SIZE)))
    if name not in {a.name for a in reply.attachments}:
        raise QuiverError(ErrorCode.RESOURCE_NOT_FOUND, f"Attachment {name!r} of {query.source_id} not found")


async def download_attachment(request: web.Request) -> web.StreamResponse:
    ref = ipb.ContentRef(project_id=_project(request), attachment_source_id=request.match_info["source_id"],
                         attachment_name=unquote(request.match_info["attachment_name"]))
    return await _stream_content(request, ref)


# -- application -------------------------------------------------------------------------------------


def routes() -> list[tuple[str, str, Handler]]:
    directory, files = "/beta/directories/{directory_id}", "/beta/directories/{directory_id}/files"
    return [
        ("GET", "/projects", list_projects),
        ("GET", "/projects/{project_id}", get_project),
        ("POST", "/api-keys", create_api_key),
        ("POST", "/beta/directories", create_directory),
        ("GET", "/beta/directories", list_directories),
        ("GET", directory, get_directory),
        ("PATCH", directory, update_directory),
        ("DELETE", directory, delete_directory),
        ("POST", f"{files}/upload", upload_to_directory),
        ("POST", f"{files}/import", import_directory_files),
        ("POST", files, add_directory_file),
        ("GET", files, list_directory_files),
        ("GET", f"{files}/{{directory_file_id}}", get_directory_file),
        ("DELETE", f"{files}/{{directory_file_id}}", delete_directory_file),
        ("POST", "/beta/files", create_file),
        ("GET", "/beta/files", list_files),
        ("GET", "/beta/files/{file_id}", get_file),
        ("DELETE", "/beta/files/{file_id}", delete_file),
        ("GET", "/beta/files/{file_id}/content", file_content_url),
        ("GET", "/beta/files/{file_id}/download", download_file),
        ("POST", "/beta/configurations", create_configuration),
        ("GET", "/beta/configurations", list_configurations),
        ("GET", "/beta/configurations/{config_id}", get_configuration),
        ("PUT", "/beta/configurations/{config_id}", update_configuration),
        ("DELETE", "/beta/configurations/{config_id}", delete_configuration),
        ("POST", "/indexes", create_index),
        ("GET", "/indexes", list_indexes),
        ("GET", "/indexes/{index_id}", get_index),
        ("DELETE", "/indexes/{index_id}", delete_index),
        ("POST", "/indexes/{index_id}/sync", sync_index),
        ("POST", "/indexes/{index_id}/sync/cancel", cancel_sync),
        ("POST", "/retrieval/retrieve", retrieve),
        ("GET", "/beta/attachments", list_attachments),
        # Before the next: attachment names hold slashes (screenshots/page_1.png).
        ("GET", "/beta/attachments/content/{source_id}/{attachment_name:.+}", download_attachment),
        ("GET", "/beta/attachments/{attachment_name:.+}", attachment_url),
    ]


openapi = document_handler("managed", Model)  # the request schemas come from the models


def add_routes(app: web.Application, cluster: ClusterClient, settings: ManagedSettings, access: Access) -> None:
    """Adds /api/v1 to the :19530 application: credentials first, then validation."""
    api = web.Application(middlewares=[managed_error_middleware(render_error), authenticate, validation])
    api[CLUSTER] = cluster
    api[SETTINGS] = settings
    api[ACCESS] = access
    api[INGEST] = IngestNodes(settings.ingest_nodes)

    async def close_channels(app: web.Application) -> None:
        await app[INGEST].close()

    api.on_cleanup.append(close_channels)
    for method, path, handler in routes():
        api.router.add_route(method, path, handler)
    api.router.add_route("GET", "/openapi.json", openapi)
    app.add_subapp("/api/v1", api)
