"""REST v2 entities: insert, upsert, delete, get, query, search.

Rows arrive as JSON objects keyed by field name. They are checked against the schema and turned
into columns: row ids (the Int64 primary key, or allocated), one packed vector array, and an
Arrow table of the scalar fields (the primary key when it is a VarChar, JSON values as their
text, keys the schema does not name in the dynamic "$meta" column). Results come back from the
data nodes as Arrow columns and are rendered into rows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from aiohttp import web

from quiver.cluster import ClusterClient
from proxy.surfaces.limits import DATA_BODY_BYTES, MAX_IDS, MAX_INSERT_ROWS, MAX_JSON_FIELD_BYTES, MAX_NQ
from proxy.surfaces.v2 import CLUSTER, Body, collection_named, int64_as_string, ok, read_body
from quiver.catalogue import VectorKind, metric
from quiver.errors import ErrorCode, QuiverError
from quiver.filters import parse_filter
from quiver.ids import MAX_ID
from quiver.schema import (
    DEFAULT_PARTITION,
    DYNAMIC_FIELD,
    INTEGER_TYPES,
    Collection,
    DataType,
    Field,
)

MAX_RESULT_WINDOW = 16384  # offset + limit, as Milvus
DEFAULT_LIMIT = 100
COUNT = "count(*)"
_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: int() takes any script's
_INT_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
}


# -- rows in -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    keys: list[Any]  # primary key values, in order
    ids: np.ndarray | None  # row ids to store (the Int64 keys), or None: allocate them
    vectors: np.ndarray
    scalars: pa.Table | None


def _bad_rows(message: str) -> QuiverError:
    return QuiverError(ErrorCode.INVALID_ROWS, f"fail to deal the insert data, error: {message}")


def decode_rows(collection: Collection, raw: Any, upsert: bool) -> Rows:
    """Checks rows against the schema and turns them into columns."""
    rows = [raw] if isinstance(raw, dict) else raw
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "missing required parameters, error: data must be a non-empty list of rows")
    if len(rows) > MAX_INSERT_ROWS:
        raise _bad_rows(f"{len(rows)} rows: one request takes at most {MAX_INSERT_ROWS}")
    schema = collection.schema
    key, vector_field = schema.primary_field, schema.vector_field
    allocate = collection.allocates_keys and not upsert
    names = {f.name for f in collection.fields}
    columns: dict[str, list[Any]] = {f.name: [] for f in schema.scalar_fields}
    dynamic: list[str | None] = []
    keys, vectors = [], []
    for row in rows:
        if DYNAMIC_FIELD in row:
            raise _bad_rows(f"{DYNAMIC_FIELD} is a reserved field name")
        if allocate and key.name in row:
            raise _bad_rows(f"no need to pass pk field({key.name}) when autoid==true in insert")
        if not allocate:
            keys.append(_value(key, row.get(key.name)))
        vectors.append(_vector(vector_field, row.get(vector_field.name)))
        for f in schema.scalar_fields:
            columns[f.name].append(_value(f, row.get(f.name)))
        extra = {k: v for k, v in row.items() if k not in names}
        if extra and not collection.enable_dynamic_field:
            raise _bad_rows(f"field {sorted(extra)[0]!r} is not in the schema: has pass more field without dynamic schema")
        dynamic.append(_json_text(extra, DYNAMIC_FIELD) if collection.enable_dynamic_field else None)
    if not allocate and key.data_type is DataType.VARCHAR:
        columns[key.name] = keys
    arrays = {f.name: pa.array(columns[f.name], type=f.arrow_type) for f in schema.scalar_fields}
    if collection.enable_dynamic_field:
        arrays[DYNAMIC_FIELD] = pa.array(dynamic, type=pa.string())
    scalars = pa.table(arrays, schema=schema.scalar_schema) if arrays else None
    ids = np.array(keys, dtype=np.int64) if keys and schema.ids_are_keys else None
    layout = schema.layout
    return Rows(keys, ids, np.stack(vectors).astype(layout.dtype).reshape(-1, layout.width), scalars)


def _vector(f: Field, value: Any) -> np.ndarray:
    if value is None:
        raise _bad_rows(f"field {f.name} is missing")
    if f.data_type is DataType.BINARY_VECTOR:
        return np.frombuffer(_base64(value, f.dim // 8, f.name), dtype=np.uint8)
    if not isinstance(value, list) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value):
        raise _bad_rows(f"field {f.name} must be a list of numbers")
    if len(value) != f.dim:
        raise _bad_rows(f"[]float32 size {len(value)} doesn't equal to vector dimension {f.dim} of FloatVector")
    vector = _float32(value)
    if vector is None:
        raise _bad_rows(f"field {f.name} holds a number that is not a finite float32")
    return vector


def _float32(values: list[Any]) -> np.ndarray | None:
    """The numbers as float32, or None when one is out of float32's range."""
    with np.errstate(over="ignore"):
        vector = np.asarray(values, dtype=np.float32)
    return vector if np.isfinite(vector).all() else None


def _base64(value: Any, size: int, name: str) -> bytes:
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        data = None
    if data is None or len(data) != size:
        raise _bad_rows(f"{name} must be the base64 text of {size} bytes")
    return data


def _value(f: Field, value: Any) -> Any:
    """A scalar checked against its field (JSON values become their text)."""
    if value is None:
        if f.nullable and not f.is_primary:
            return None
        raise _bad_rows(f"field {f.name} is missing")
    kind = f.data_type
    if kind is DataType.JSON:
        return _json_text(value, f.name)
    if kind is DataType.ARRAY:
        if not isinstance(value, list) or len(value) > f.max_capacity:
            raise _bad_rows(f"field {f.name} must be an array of at most {f.max_capacity} elements")
        element = Field(f.name, f.element_type or DataType.INT64, max_length=f.max_length)
        return [_value(element, v) for v in value]
    return _plain(f, kind, value)


def _json_text(value: Any, name: str) -> str:
    text = orjson.dumps(value).decode()
    if len(text) > MAX_JSON_FIELD_BYTES:
        raise _bad_rows(f"field {name} takes at most {MAX_JSON_FIELD_BYTES} bytes of JSON")
    return text


def _plain(f: Field, kind: DataType, value: Any) -> Any:
    if kind is DataType.BOOL and isinstance(value, bool):
        return value
    if kind in INTEGER_TYPES:
        if kind is DataType.INT64 and isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value)  # Int64 may come as a string
        low, high = _INT_RANGES[kind]
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
    if kind in (DataType.FLOAT, DataType.DOUBLE) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is DataType.VARCHAR and isinstance(value, str):
        if len(value) > f.max_length:
            raise _bad_rows(f"the length of {f.name} ({len(value)}) exceeds max length ({f.max_length})")
        return value
    raise _bad_rows(f"field {f.name} expects {kind.name}, got {value!r}")


# -- rows out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """What a request's outputFields mean: schema fields to fetch, dynamic keys to pick."""

    fields: list[str]  # schema fields (and "$meta") the data nodes return
    dynamic_keys: list[str] | None  # None: every dynamic key ("*"); [] : none

    @classmethod
    def of(cls, collection: Collection, requested: list[str], with_key: bool) -> Projection:
        names = [f.name for f in collection.fields]
        key = collection.primary_field.name
        if "*" in requested:
            fields = list(names) + ([DYNAMIC_FIELD] if collection.enable_dynamic_field else [])
            return cls(fields, None)
        fields = [key] if with_key else []
        dynamic = []
        for name in requested:
            if name in names:
                if name not in fields:
                    fields.append(name)
            elif collection.enable_dynamic_field:
                dynamic.append(name)
            else:
                raise QuiverError(ErrorCode.INVALID_PARAMETER, f"field {name} not exist")
        if dynamic:
            fields.append(DYNAMIC_FIELD)
        return cls(fields, dynamic)


def render_rows(collection: Collection, table: pa.Table | None, projection: Projection, as_strings: bool) -> list[dict[str, Any]]:
    """Arrow columns into JSON-ready rows (Int64 as strings when the client asks)."""
    if table is None or table.num_rows == 0:
        return []
    rows: list[dict[str, Any]] = [{} for _ in range(table.num_rows)]
    for name in table.column_names:
        if name == DYNAMIC_FIELD:
            for row, text in zip(rows, table.column(name).to_pylist()):
                extra = orjson.loads(text) if text else {}
                keys = extra if projection.dynamic_keys is None else projection.dynamic_keys
                row.update({k: extra[k] for k in keys if k in extra})
            continue
        values = _column_values(collection.schema.field_named(name), table.column(name), as_strings)
        for row, value in zip(rows, values):
            row[name] = value
    return rows


def _column_values(f: Field, column: pa.ChunkedArray, as_strings: bool) -> list[Any]:
    if f.data_type is DataType.FLOAT_VECTOR:
        flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        return list(flat.reshape(-1, f.dim))  # float32 arrays: the shortest float32 text
    if f.data_type is DataType.BINARY_VECTOR:
        return [base64.b64encode(v).decode() for v in column.to_pylist()]
    values = column.to_pylist()
    if f.data_type is DataType.JSON:
        return [orjson.loads(v) if v is not None else None for v in values]
    if f.data_type is DataType.INT64 and as_strings:
        return [str(v) if v is not None else None for v in values]
    if f.data_type is DataType.FLOAT:
        return [np.float32(v) if v is not None else None for v in values]
    return values


def _render_id(value: Any, as_strings: bool) -> Any:
    return str(value) if as_strings and isinstance(value, int) else value


# -- helpers ------------------------------------------------------------------------------------


def _loaded(collection: Collection) -> Collection:
    if collection.released:
        raise QuiverError(ErrorCode.COLLECTION_NOT_LOADED, f"collection not loaded[collection={collection.name}]")
    return collection


def _partition_ids(collection: Collection, names: list[str]) -> set[int]:
    return {collection.partition(n).id for n in names}


async def _checked_filter(collection: Collection, text: Any) -> str:
    """The filter, parsed once here (off the event loop) for a clear error before any fan-out."""
    if text is None or text == "":
        return ""
    if not isinstance(text, str):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, "filter must be a string")
    await asyncio.to_thread(parse_filter, text, collection.schema.filter_schema)
    return text


def _window(body: Body) -> tuple[int, int]:
    limit, offset = body.integer("limit", DEFAULT_LIMIT), body.integer("offset", 0)
    if limit < 1 or offset < 0 or limit + offset > MAX_RESULT_WINDOW:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid limit {limit} / offset {offset}: offset+limit must be in [1, {MAX_RESULT_WINDOW}]")
    return limit, offset


MAX_KEY_FILTER_BYTES = 60_000  # under the filter parser's 64 KiB limit


def _key_filters(collection: Collection, keys: list[Any]) -> list[str]:
    """Filters that together match these primary keys (JSON literals are filter literals)."""
    name, filters, chunk, size = collection.primary_field.name, [], [], 0
    for key in keys:
        text = orjson.dumps(key)
        if chunk and size + len(text) > MAX_KEY_FILTER_BYTES:
            filters.append(f"{name} in [{b','.join(chunk).decode()}]")
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    filters.append(f"{name} in [{b','.join(chunk).decode()}]")
    return filters


def _keys(collection: Collection, raw: Any) -> list[Any]:
    values = raw if isinstance(raw, list) else [raw]
    key = collection.primary_field
    wanted = (int,) if key.data_type is DataType.INT64 else (str,)
    if not values or any(isinstance(v, bool) or not isinstance(v, wanted) for v in values):
        raise QuiverError(ErrorCode.INVALID_IDS, "please check the primary key and its' type can only in [int, string]")
    if len(values) > MAX_IDS:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: {len(values)} ids, one request takes at most {MAX_IDS}")
    if key.data_type is DataType.INT64 and any(not 0 <= v <= MAX_ID for v in values):
        raise QuiverError(ErrorCode.INVALID_IDS, "primary keys must be non-negative int64 values")
    return values


async def _insert(cluster: ClusterClient, collection: Collection, body: Body, upsert: bool) -> list[Any]:
    rows = decode_rows(collection, body.require("data"), upsert)
    partition = collection.partition(body.string("partitionName", DEFAULT_PARTITION) or DEFAULT_PARTITION)
    if upsert:  # replaces: the old rows go first, so the new ones are never hit by the delete
        if collection.ids_are_keys:
            await cluster.delete(collection, ids=rows.ids)
        else:
            for text in _key_filters(collection, rows.keys):
                await cluster.delete(collection, filter_text=text)
    stored = await cluster.insert(collection, partition.id, rows.vectors, rows.ids, rows.scalars, check_mode=not upsert)
    return rows.keys if rows.keys else stored.tolist()


# -- handlers -----------------------------------------------------------------------------------


async def insert(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request, DATA_BODY_BYTES)
    collection = await collection_named(cluster, body)
    keys = await _insert(cluster, collection, body, upsert=False)
    as_strings = int64_as_string(request)
    return ok({"insertCount": len(keys), "insertIds": [_render_id(k, as_strings) for k in keys]})


async def upsert(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request, DATA_BODY_BYTES)
    collection = await collection_named(cluster, body)
    keys = await _insert(cluster, collection, body, upsert=True)
    as_strings = int64_as_string(request)
    return ok({"upsertCount": len(keys), "upsertIds": [_render_id(k, as_strings) for k in keys]})


async def delete(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request)
    collection = await collection_named(cluster, body)
    text = body.get("filter")
    partition = body.string("partitionName", "")
    partitions = _partition_ids(collection, [partition]) if partition else set()
    if text:
        filters = [await _checked_filter(collection, text)]
    elif body.has("id"):  # accepted by some Milvus revisions
        filters = _key_filters(collection, _keys(collection, body.get("id")))
    else:
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "missing required parameters, error: filter is required")
    deleted = 0
    for each in filters:
        deleted += await cluster.delete(collection, filter_text=each, partition_ids=partitions)
    return ok({"deleteCount": deleted})


async def _query_rows(
    request: web.Request, body: Body, collection: Collection, text: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    requested = body.strings("outputFields") or ["*"]
    partitions = _partition_ids(collection, body.strings("partitionNames"))
    if COUNT in requested:
        found = await request.app[CLUSTER].query(collection, partitions, text, [], limit=0)
        return [{COUNT: found.count}]
    projection = Projection.of(collection, requested, with_key=True)
    found = await request.app[CLUSTER].query(collection, partitions, text, projection.fields, limit, offset)
    return render_rows(collection, found.fields, projection, int64_as_string(request))


async def get(request: web.Request) -> web.Response:
    body = await read_body(request)
    collection = _loaded(await collection_named(request.app[CLUSTER], body))
    keys = _keys(collection, body.require("id"))
    rows = []
    for text in _key_filters(collection, keys):
        rows += await _query_rows(request, body, collection, text, len(keys), 0)
    return ok(rows)


async def query(request: web.Request) -> web.Response:
    body = await read_body(request)
    collection = _loaded(await collection_named(request.app[CLUSTER], body))
    limit, offset = _window(body)
    rows = await _query_rows(request, body, collection, await _checked_filter(collection, body.get("filter")), limit, offset)
    return ok(rows)


def _query_vectors(collection: Collection, data: Any) -> np.ndarray:
    layout = collection.layout
    if not isinstance(data, list) or not data:
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "missing required parameters, error: data is required")
    if len(data) > MAX_NQ:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: nq {len(data)} is out of range [1, {MAX_NQ}]")
    vectors = []
    for vector in data:
        if layout.kind is VectorKind.BINARY:
            try:
                raw = base64.b64decode(vector, validate=True) if isinstance(vector, str) else b""
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != layout.width:
                raise QuiverError(ErrorCode.INVALID_VECTORS, f"binary vectors are the base64 of {layout.width} bytes")
            vectors.append(np.frombuffer(raw, dtype=np.uint8))
        else:
            if not isinstance(vector, list) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in vector):
                raise QuiverError(ErrorCode.INVALID_VECTORS, "search vectors must be lists of numbers")
            if len(vector) != layout.dim:
                raise QuiverError(ErrorCode.INVALID_VECTORS, f"dimension: {layout.dim}, but length of []float: {len(vector)}")
            queries = _float32(vector)
            if queries is None:
                raise QuiverError(ErrorCode.INVALID_VECTORS, "search vectors must hold finite float32 numbers")
            vectors.append(queries)
    return np.stack(vectors)


async def search(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_body(request, DATA_BODY_BYTES)
    collection = _loaded(await collection_named(cluster, body))
    anns_field = body.string("annsField", collection.vector_field.name)
    if anns_field != collection.vector_field.name:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"annsField {anns_field!r} is not a vector field of {collection.name!r}")
    if body.has("groupingField"):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, "groupingField is not supported by Quiver")
    queries = _query_vectors(collection, body.require("data"))
    limit, offset = _window(body)
    search_params = body.sub("searchParams")
    index = collection.vector_index
    metric_name = search_params.string("metricType", index.metric_type if index else collection.metric_type)
    if index is not None and metric_name != index.metric_type:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"metric type not match: index is {index.metric_type}, search asks {metric_name}")
    m = metric(metric_name)
    if m.vector_kind is not collection.layout.kind:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"metric {metric_name} does not apply to these vectors")
    params = search_params.sub("params").raw
    radius, range_filter = _bound(params, "radius"), _bound(params, "range_filter")
    if range_filter is not None and radius is None:
        raise QuiverError(ErrorCode.MALFORMED_BODY, "range_filter requires radius")
    index_params = index.catalogue_type.validate_search(params, _V2, limit + offset) if index else {}
    projection = Projection.of(collection, body.strings("outputFields"), with_key=False)
    key = collection.primary_field.name
    key_fetched = not collection.ids_are_keys and key not in projection.fields
    fetch = Projection([*projection.fields, key], projection.dynamic_keys) if key_fetched else projection
    found = await cluster.search(
        collection,
        queries,
        limit + offset,
        m,
        _partition_ids(collection, body.strings("partitionNames")),
        set(),
        orjson.dumps(index_params).decode(),
        await _checked_filter(collection, body.get("filter")),
        fetch.fields,
    )
    rows = render_rows(collection, found.fields, fetch, int64_as_string(request))
    keys = None
    if not collection.ids_are_keys:  # hits are named by the VarChar key, not the row id
        keys = [row.pop(key) if key_fetched else row[key] for row in rows]
    hits = _hits(found.ids, found.distances, rows, keys, offset, m.higher_is_better, radius, range_filter,
                 int64_as_string(request))
    return ok(hits[0] if len(hits) == 1 else hits)


def _hits(
    ids: np.ndarray, distances: np.ndarray, rows: list[dict[str, Any]], keys: list[Any] | None,
    offset: int, descending: bool, radius: Any, range_filter: Any, as_strings: bool,
) -> list[list[dict[str, Any]]]:
    """One list of hits per query: the key (`keys`, else the row id), the distance, the output
    fields; after `offset`, and within the range when one was asked for."""
    hits, row = [], 0
    for query_ids, query_distances in zip(ids, distances):
        listed = []
        for position, (hit_id, distance) in enumerate(zip(query_ids.tolist(), query_distances)):
            if hit_id < 0:
                continue
            fields = rows[row] if rows else {}
            key = keys[row] if keys is not None else _render_id(hit_id, as_strings)
            row += 1
            if position < offset or not _in_range(float(distance), descending, radius, range_filter):
                continue
            listed.append({"id": key, "distance": np.float32(distance), **fields})
        hits.append(listed)
    return hits


def _bound(params: dict[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: {key} must be a number")
    return None if value is None else float(value)


def _in_range(distance: float, descending: bool, radius: float | None, range_filter: float | None) -> bool:
    """Range search: beyond `range_filter` but within `radius` (Milvus' bounds per metric)."""
    if radius is None:
        return True
    if descending:  # similarities: radius < d <= range_filter
        return distance > radius and (range_filter is None or distance <= range_filter)
    return distance < radius and (range_filter is None or distance >= range_filter)


Handler = Callable[[web.Request], Awaitable[web.Response]]


def routes() -> dict[tuple[str, str], Handler]:
    return {
        ("entities", "insert"): insert,
        ("entities", "upsert"): upsert,
        ("entities", "delete"): delete,
        ("entities", "get"): get,
        ("entities", "query"): query,
        ("entities", "search"): search,
    }


from quiver.catalogue import Dialect  # noqa: E402

_V2 = Dialect.V2
