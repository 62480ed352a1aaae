"""The Milvus 2.x RESTful API v2 (`POST /v2/vectordb/<group>/<action>` on port 19530).

Replies are `{"code": 0, "data": ...}`, or `{"code": N, "message": ...}` with HTTP 200 for
nearly every error (401 for credentials, 408 for timeouts), as shared/spec/notes/
milvus-v2-behaviour.md describes. Request keys match case-insensitively, as Go's JSON decoder
does. Entities (insert, search, query...) are in v2_entities.py; this module holds the
envelope, credentials, and the collection, partition, alias and index routes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from quiver.cluster import ClusterClient
from proxy.errors import v2_error_middleware
from proxy.http import json_response, read_limited
from proxy.openapi import document_handler
from proxy.surfaces.auth import Access
from proxy.surfaces.limits import CONTROL_BODY_BYTES, MAX_NAME_CHARS
from quiver.catalogue import Dialect, VectorKind, check_metric, index_type_for, scalar_index_type
from quiver.errors import ErrorCode, QuiverError
from quiver.schema import (
    DEFAULT_SHARDS,
    Collection,
    DataType,
    Field,
    IdMode,
    IndexSpec,
    IndexState,
    validate_collection,
    validate_field_name,
)

CLUSTER = web.AppKey("cluster", ClusterClient)
ACCESS = web.AppKey("access", Access)

DEFAULT_TIMEOUT_S = 30.0
CONSISTENCY_LEVELS = ("Strong", "Session", "Bounded", "Eventually", "Customized")
DATA_TYPE_NAMES = {
    "Bool": DataType.BOOL,
    "Int8": DataType.INT8,
    "Int16": DataType.INT16,
    "Int32": DataType.INT32,
    "Int64": DataType.INT64,
    "Float": DataType.FLOAT,
    "Double": DataType.DOUBLE,
    "VarChar": DataType.VARCHAR,
    "String": DataType.VARCHAR,
    "Array": DataType.ARRAY,
    "JSON": DataType.JSON,
    "BinaryVector": DataType.BINARY_VECTOR,
    "FloatVector": DataType.FLOAT_VECTOR,
}
TYPE_NAMES = {t: n for n, t in DATA_TYPE_NAMES.items() if n != "String"}
UNSUPPORTED_TYPES = ("Float16Vector", "BFloat16Vector", "SparseFloatVector", "Int8Vector")
_PARTITION_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_DIGITS = re.compile(r"[0-9]{1,9}")  # a number given as text (ASCII digits only: int() takes more)


# -- requests ----------------------------------------------------------------------------------


class Body:
    """A request body whose keys match case-insensitively (autoId, autoID, AutoID)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._lower = {k.lower(): v for k, v in raw.items()}

    def get(self, key: str, default: Any = None) -> Any:
        value = self._lower.get(key.lower())
        return default if value is None else value

    def has(self, key: str) -> bool:
        return self._lower.get(key.lower()) is not None

    def require(self, key: str) -> Any:
        value = self._lower.get(key.lower())
        if value is None or value == "" or value == []:
            raise QuiverError(ErrorCode.MISSING_PARAMETER, f"missing required parameters, error: {key} is required")
        return value

    def name(self, key: str) -> str:
        """A required name (of a collection, partition, alias, index, field or user): a string
        of at most MAX_NAME_CHARS characters."""
        value = self.require(key)
        if not isinstance(value, str):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {key} must be a string")
        if len(value) > MAX_NAME_CHARS:
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: {key} is longer than {MAX_NAME_CHARS} characters")
        return value

    def string(self, key: str, default: str = "") -> str:
        value = self.get(key, default)
        if not isinstance(value, str):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {key} must be a string")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {key} must be an integer")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {key} must be a boolean")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {key} must be a list of strings")
        return value

    def sub(self, key: str) -> Body:
        value = self.get(key, {})
        if not isinstance(value, dict):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {key} must be an object")
        return Body(value)


async def read_body(request: web.Request, limit: int = CONTROL_BODY_BYTES) -> Body:
    raw = await read_limited(request, limit)
    if not raw.strip():
        raise QuiverError(
            ErrorCode.MALFORMED_BODY,
            "can only accept json format request, the request body should be nil, however {} is valid",
        )
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"can only accept json format request, error: {error}") from None
    if not isinstance(parsed, dict):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "can only accept json format request, error: the body must be an object")
    body = Body(parsed)
    database = body.get("dbName") or request.headers.get("DB-Name") or "default"
    if database != "default":
        raise QuiverError(ErrorCode.DATABASE_NOT_FOUND, f"database not found, database: {database}")
    return body


def ok(data: Any = None, **extra: Any) -> web.Response:
    return json_response({"code": 0, "data": {} if data is None else data, **extra})


def render_error(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status=status)


def int64_as_string(request: web.Request) -> bool:
    """Accept-Type-Allow-Int64: false asks for Int64 values as JSON strings."""
    return request.headers.get("Accept-Type-Allow-Int64", "true").strip().lower() == "false"


async def collection_named(cluster: ClusterClient, body: Body) -> Collection:
    return await cluster.collection(body.name("collectionName"))


# -- credentials and timeouts ------------------------------------------------------------------


@web.middleware
async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Credentials and the caller's rate limit first (touching nothing without them), then the
    request's time limit. The OpenAPI document is public."""
    if request.match_info.handler is openapi:
        return await handler(request)
    await request.app[ACCESS].admit(request)
    timeout = _request_timeout(request.headers.get("Request-Timeout"))
    try:
        return await asyncio.wait_for(handler(request), timeout)
    except TimeoutError:
        raise QuiverError(ErrorCode.TIMEOUT, "request timeout") from None


def _request_timeout(header: str | None) -> float:
    if header is None:
        return DEFAULT_TIMEOUT_S
    if not _DIGITS.fullmatch(header.strip()) or int(header) <= 0:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"Request-Timeout {header!r} is not a positive integer of seconds")
    return float(header)


# -- collections -------------------------------------------------------------------------------


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: {what} must be a positive integer, got {value!r}")
    return value


def _quick_schema(body: Body) -> tuple[tuple[Field, ...], bool, str]:
    """Quick setup: (fields, dynamic field, default metric)."""
    dimension = body.get("dimension")
    if not dimension:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, "invalid parameter: dimension is required for quickly create collection")
    params = body.sub("params")
    id_type = body.string("idType", "Int64")
    key_name = body.string("primaryFieldName", "id")
    if id_type in ("", "Int64", "int64"):
        key = Field(key_name, DataType.INT64, is_primary=True, auto_id=body.boolean("autoID", False), field_id=100)
    elif id_type in ("VarChar", "Varchar"):
        max_length = _positive_int(params.get("max_length", 65535), "max_length")
        key = Field(key_name, DataType.VARCHAR, is_primary=True, max_length=max_length, field_id=100)
    else:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: idType can only be [Int64, VarChar], got {id_type!r}")
    vector = Field(body.string("vectorFieldName", "vector"), DataType.FLOAT_VECTOR,
                   dim=_positive_int(dimension, "dimension"), field_id=101)
    dynamic = params.get("enableDynamicField", True)
    return (key, vector), dynamic in (True, "true", "True"), body.string("metricType", "COSINE")


def _custom_schema(body: Body, schema: Body) -> tuple[tuple[Field, ...], bool]:
    raw_fields = schema.get("fields")
    if not isinstance(raw_fields, list):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "can only accept json format request, error: schema.fields must be a list")
    auto_id = schema.boolean("autoID", body.boolean("autoID", False))
    fields = tuple(_field(Body(f) if isinstance(f, dict) else Body({}), i, auto_id) for i, f in enumerate(raw_fields))
    return fields, schema.boolean("enableDynamicField", False)


def _field(spec: Body, position: int, auto_id: bool) -> Field:
    name = validate_field_name(spec.name("fieldName"))
    type_name = spec.string("dataType")
    if type_name in UNSUPPORTED_TYPES:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: data type {type_name} is not supported by Quiver")
    if type_name not in DATA_TYPE_NAMES:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: data type {type_name!r} is invalid(case sensitive)")
    data_type = DATA_TYPE_NAMES[type_name]
    params = spec.sub("elementTypeParams")
    element_type = None
    if data_type is DataType.ARRAY:
        element_name = spec.string("elementDataType")
        element_type = DATA_TYPE_NAMES.get(element_name)
        if element_type is None or element_type in (DataType.ARRAY, DataType.JSON) or element_name.endswith("Vector"):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: invalid elementDataType {element_name!r}")
    is_primary = spec.boolean("isPrimary", False)
    if spec.boolean("isPartitionKey", False) or spec.boolean("isClusteringKey", False):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, "invalid parameter: partition and clustering keys are not supported by Quiver")
    needs = lambda key: _positive_int(params.get(key), key)  # noqa: E731
    return Field(
        name=name,
        data_type=data_type,
        is_primary=is_primary,
        dim=needs("dim") if data_type in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR) else 0,
        max_length=needs("max_length") if DataType.VARCHAR in (data_type, element_type) else 0,
        element_type=element_type,
        max_capacity=needs("max_capacity") if data_type is DataType.ARRAY else 0,
        auto_id=auto_id and is_primary,
        nullable=spec.boolean("nullable", False),
        description=spec.string("description", ""),
        field_id=100 + position,
    )


async def create_collection(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request)
    name = body.name("collectionName")
    params = body.sub("params")
    shards = params.get("shardsNum", DEFAULT_SHARDS)
    if isinstance(shards, str) and shards.isdigit():  # Milvus takes "2" as well as 2
        shards = int(shards)
    if isinstance(shards, bool) or not isinstance(shards, int):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: shardsNum {shards!r} must be an integer")
    level = params.get("consistencyLevel", "Strong")  # Quiver's default: reads see every acknowledged write
    if level not in CONSISTENCY_LEVELS:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: consistencyLevel {level!r} is not one of {CONSISTENCY_LEVELS}")
    schema = body.sub("schema")
    index_params = body.get("indexParams", [])
    if schema.get("fields"):
        if schema.get("functions"):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "invalid parameter: schema functions are not supported")
        fields, dynamic = _custom_schema(body, schema)
        vector = next((f for f in fields if f.data_type in (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR)), None)
        binary = vector is not None and vector.data_type is DataType.BINARY_VECTOR
        metric_name = body.string("metricType", "HAMMING" if binary else "COSINE")
        quick = False
    else:
        fields, dynamic, metric_name = _quick_schema(body)
        index_params = [{"fieldName": fields[1].name, "metricType": metric_name, "indexType": "AUTOINDEX"}]
        quick = True
    if not isinstance(index_params, list):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "can only accept json format request, error: indexParams must be a list")
    key = next((f for f in fields if f.is_primary), None)
    spec = Collection(
        id=0,
        name=name,
        fields=fields,
        metric_type=metric_name,
        index_file_size_mb=1024,
        # Row ids are the Int64 keys given, or allocated (autoID, and VarChar keys).
        id_mode=IdMode.USER if key is not None and key.data_type is DataType.INT64 and not key.auto_id else IdMode.AUTO,
        enable_dynamic_field=dynamic,
        description=body.string("description", ""),
        consistency_level=level,
        released=not index_params,
        shards_num=shards,
    )
    validate_collection(spec)
    indexes = [_index_spec(spec, Body(p) if isinstance(p, dict) else Body({})) for p in index_params]
    try:
        await cluster.create_collection(spec)
    except QuiverError as error:
        if error.code is not ErrorCode.COLLECTION_EXISTS or not await _same_collection(cluster, spec):
            raise
        return ok()
    for index in indexes:
        await cluster.create_index(name, index, replace=False)
    if quick or indexes:
        await cluster.set_released(name, False)
    return ok()


async def _same_collection(cluster: ClusterClient, spec: Collection) -> bool:
    """Creating an existing collection again with the same schema succeeds, as in Milvus."""
    existing = await cluster.collection(spec.name)
    return existing.fields == spec.fields and existing.metric_type == spec.metric_type


def _type_params(f: Field) -> list[dict[str, str]]:
    params = []
    if f.dim:
        params.append({"key": "dim", "value": str(f.dim)})
    if f.max_length:
        params.append({"key": "max_length", "value": str(f.max_length)})
    if f.max_capacity:
        params.append({"key": "max_capacity", "value": str(f.max_capacity)})
    return params


def describe_fields(collection: Collection) -> list[dict[str, Any]]:
    described = []
    for f in collection.fields:
        entry: dict[str, Any] = {
            "name": f.name,
            "type": TYPE_NAMES[f.data_type],
            "id": f.field_id,
            "primaryKey": f.is_primary,
            "partitionKey": False,
            "clusteringKey": False,
            "autoId": f.auto_id,
            "nullable": f.nullable,
            "description": f.description,
            "params": _type_params(f),
        }
        if f.element_type is not None:
            entry["elementType"] = TYPE_NAMES[f.element_type]
        described.append(entry)
    return described


def load_state(collection: Collection) -> str:
    return "LoadStateNotLoad" if collection.released else "LoadStateLoaded"


async def describe_collection(request: web.Request) -> web.Response:
    collection = await collection_named(request.app[CLUSTER], await read_body(request))
    return ok(
        {
            "collectionName": collection.name,
            "collectionID": collection.id,
            "description": collection.description,
            "autoId": collection.allocates_keys,
            "fields": describe_fields(collection),
            "functions": [],
            "aliases": list(collection.aliases),
            "indexes": [
                {"fieldName": i.field_name, "indexName": i.index_name, "metricType": i.metric_type}
                for i in collection.indexes
            ],
            "load": load_state(collection),
            "shardsNum": collection.shards_num,
            "partitionsNum": len(collection.partitions),
            "consistencyLevel": collection.consistency_level,
            "enableDynamicField": collection.enable_dynamic_field,
            "properties": [],
        }
    )


async def list_collections(request: web.Request) -> web.Response:
    await read_body(request)
    return ok([c.name for c, _ in await request.app[CLUSTER].list_collections()])


async def has_collection(request: web.Request) -> web.Response:
    body = await read_body(request)
    try:
        await request.app[CLUSTER].collection(body.name("collectionName"))
    except QuiverError as error:
        if error.code is ErrorCode.COLLECTION_NOT_FOUND:
            return ok({"has": False})
        raise
    return ok({"has": True})


async def drop_collection(request: web.Request) -> web.Response:
    body = await read_body(request)
    try:
        await request.app[CLUSTER].drop_collection(body.name("collectionName"))
    except QuiverError as error:
        if error.code is not ErrorCode.COLLECTION_NOT_FOUND:  # dropping what is gone succeeds
            raise
    return ok()


async def rename_collection(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[CLUSTER].rename_collection(body.name("collectionName"), body.name("newCollectionName"))
    return ok()


async def get_stats(request: web.Request) -> web.Response:
    body = await read_body(request)
    status = await request.app[CLUSTER].describe(body.name("collectionName"))
    return ok({"rowCount": sum(s.live_rows for s in status.segments)})


async def get_load_state(request: web.Request) -> web.Response:
    collection = await collection_named(request.app[CLUSTER], await read_body(request))
    if collection.released:
        return ok({"loadState": "LoadStateNotLoad"})
    return ok({"loadState": "LoadStateLoaded", "loadProgress": 100})


async def load_collection(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    collection = await collection_named(cluster, await read_body(request))
    if collection.vector_index is None:
        raise QuiverError(ErrorCode.INDEX_NOT_FOUND, f"index not found[collection={collection.name}]: create an index on the vector field first")
    await cluster.set_released(collection.name, False)
    await cluster.load(collection)
    return ok()


async def release_collection(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    collection = await collection_named(cluster, await read_body(request))
    await cluster.set_released(collection.name, True)
    return ok()


# -- partitions --------------------------------------------------------------------------------


def _partition_name(body: Body) -> str:
    name = body.name("partitionName")
    if not isinstance(name, str) or not _PARTITION_RE.fullmatch(name):
        raise QuiverError(ErrorCode.PARTITION_NAME_INVALID, f"invalid partition name {name!r}")
    return name


async def list_partitions(request: web.Request) -> web.Response:
    collection = await collection_named(request.app[CLUSTER], await read_body(request))
    return ok([p.name for p in collection.partitions])


async def has_partition(request: web.Request) -> web.Response:
    body = await read_body(request)
    collection = await collection_named(request.app[CLUSTER], body)
    name = body.name("partitionName")
    return ok({"has": any(p.name == name for p in collection.partitions)})


async def create_partition(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[CLUSTER].create_partition(body.name("collectionName"), _partition_name(body))
    return ok()


async def drop_partition(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[CLUSTER].drop_partition(body.name("collectionName"), body.name("partitionName"))
    return ok()


async def partition_stats(request: web.Request) -> web.Response:
    body = await read_body(request)
    status = await request.app[CLUSTER].describe(body.name("collectionName"))
    partition = status.collection.partition(body.name("partitionName"))
    return ok({"rowCount": sum(s.live_rows for s in status.segments if s.partition_id == partition.id)})


async def load_partitions(request: web.Request) -> web.Response:
    """Partitions load and release with their collection in Quiver: a check, then a no-op."""
    body = await read_body(request)
    collection = await collection_named(request.app[CLUSTER], body)
    body.require("partitionNames")
    for name in body.strings("partitionNames"):
        collection.partition(name)
    return ok()


# -- aliases -----------------------------------------------------------------------------------


async def create_alias(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[CLUSTER].create_alias(body.name("aliasName"), body.name("collectionName"))
    return ok()


async def alter_alias(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[CLUSTER].create_alias(body.name("aliasName"), body.name("collectionName"), alter=True)
    return ok()


async def drop_alias(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[CLUSTER].drop_alias(body.name("aliasName"))
    return ok()


async def describe_alias(request: web.Request) -> web.Response:
    body = await read_body(request)
    alias = body.name("aliasName")
    for name, collection in await request.app[CLUSTER].list_aliases(""):
        if name == alias:
            return ok({"dbName": "default", "collectionName": collection, "aliasName": alias})
    raise QuiverError(ErrorCode.ALIAS_NOT_FOUND, f"alias not found[database=default][alias={alias}]")


async def list_aliases(request: web.Request) -> web.Response:
    body = await read_body(request)
    pairs = await request.app[CLUSTER].list_aliases(body.string("collectionName", ""))
    return ok([alias for alias, _ in pairs])


# -- indexes -----------------------------------------------------------------------------------


def _index_spec(collection: Collection, spec: Body) -> IndexSpec:
    """An index request of the create-index page: `params` (or the page's `indexConfig`)."""
    field_name = spec.get("fieldName")
    if not field_name:
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "missing required parameters, error: fieldName is required")
    if not any(f.name == field_name for f in collection.fields):
        raise QuiverError(ErrorCode.MISSING_PARAMETER, f"missing required parameters, error: `{field_name}` hasn't defined in schema")
    field = next(f for f in collection.fields if f.name == field_name)
    params = dict(spec.sub("params").raw or spec.sub("indexConfig").raw)
    type_name = spec.get("indexType") or params.pop("index_type", None) or "AUTOINDEX"
    params.pop("index_type", None)
    params.pop("metric_type", None)
    name = spec.string("indexName", field_name) or field_name
    if not field.is_vector:
        kind = scalar_index_type(type_name)
        return IndexSpec(field_name, kind.name, "", {}, index_name=name, dialect_name=type_name)
    kind_of_vectors = VectorKind.BINARY if field.data_type is DataType.BINARY_VECTOR else VectorKind.FLOAT
    metric_name = spec.string("metricType", "HAMMING" if kind_of_vectors is VectorKind.BINARY else "COSINE")
    kind = index_type_for(type_name, Dialect.V2, kind_of_vectors)
    try:
        check_metric(kind, metric_name)
    except QuiverError:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: metric type {metric_name} is not supported for {type_name}") from None
    return IndexSpec(
        field_name,
        kind.name,
        metric_name,
        kind.validate_build(params, Dialect.V2, field.dim),
        index_name=name,
        dialect_name=type_name,
    )


async def create_index(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request)
    collection = await collection_named(cluster, body)
    specs = body.require("indexParams")
    if not isinstance(specs, list):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "can only accept json format request, error: indexParams must be a list")
    for spec in specs:
        index = _index_spec(collection, Body(spec) if isinstance(spec, dict) else Body({}))
        await cluster.create_index(collection.name, index, replace=False)
    return ok()


def _index_named(collection: Collection, name: str) -> IndexSpec:
    for index in collection.indexes:
        if name in (index.index_name, index.field_name):
            return index
    raise QuiverError(ErrorCode.INDEX_NOT_FOUND, f"index not found[indexName={name}]")


async def drop_index(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request)
    collection = await collection_named(cluster, body)
    index = _index_named(collection, body.name("indexName"))
    if not collection.released:
        raise QuiverError(ErrorCode.UNEXPECTED, "index cannot be dropped, collection is loaded, please release it first")
    await cluster.drop_index(collection.name, index.field_name)
    return ok()


async def list_indexes(request: web.Request) -> web.Response:
    collection = await collection_named(request.app[CLUSTER], await read_body(request))
    return ok([i.index_name for i in collection.indexes])


_INDEX_STATES = {IndexState.FINISHED: "Finished", IndexState.FAILED: "Failed"}


async def describe_index(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request)
    status = await cluster.describe(body.name("collectionName"))
    index = _index_named(status.collection, body.name("indexName"))
    progress = status.index_progress if index.field_name == status.collection.vector_field.name else None
    total = sum(s.row_count for s in status.segments)
    return ok(
        [
            {
                "indexName": index.index_name,
                "fieldName": index.field_name,
                "indexType": index.dialect_name or index.index_type,
                "metricType": index.metric_type,
                "totalRows": progress.total_rows if progress else total,
                "pendingRows": progress.pending_rows if progress else 0,
                "indexedRows": progress.indexed_rows if progress else total,
                "indexState": _INDEX_STATES.get(progress.state, "InProgress") if progress else "Finished",
                "failReason": progress.fail_reason if progress else "",
            }
        ]
    )


# -- application ------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.Response]]


def routes() -> dict[tuple[str, str], Handler]:
    from proxy.surfaces import v2_entities, v2_nodes, v2_users

    return {
        ("collections", "create"): create_collection,
        ("collections", "describe"): describe_collection,
        ("collections", "list"): list_collections,
        ("collections", "has"): has_collection,
        ("collections", "drop"): drop_collection,
        ("collections", "rename"): rename_collection,
        ("collections", "get_stats"): get_stats,
        ("collections", "get_load_state"): get_load_state,
        ("collections", "load"): load_collection,
        ("collections", "release"): release_collection,
        ("partitions", "list"): list_partitions,
        ("partitions", "has"): has_partition,
        ("partitions", "create"): create_partition,
        ("partitions", "drop"): drop_partition,
        ("partitions", "get_stats"): partition_stats,
        ("partitions", "load"): load_partitions,
        ("partitions", "release"): load_partitions,
        ("aliases", "create"): create_alias,
        ("aliases", "alter"): alter_alias,
        ("aliases", "drop"): drop_alias,
        ("aliases", "describe"): describe_alias,
        ("aliases", "list"): list_aliases,
        ("indexes", "create"): create_index,
        ("indexes", "drop"): drop_index,
        ("indexes", "list"): list_indexes,
        ("indexes", "describe"): describe_index,
        **v2_entities.routes(),
        **v2_users.routes(),
        **v2_nodes.routes(),
    }


openapi = document_handler("milvus-v2")


def add_routes(app: web.Application, cluster: ClusterClient, access: Access) -> None:
    """Adds the v2 routes to the :19530 application, each behind credentials and a timeout."""
    api = web.Application(middlewares=[v2_error_middleware(render_error), guard])
    api[CLUSTER] = cluster
    api[ACCESS] = access
    for (group, action), handler in routes().items():
        api.router.add_post(f"/{group}/{action}", handler)
    api.router.add_route("GET", "/openapi.json", openapi)
    app.add_subapp("/v2/vectordb", api)
