"""The Milvus 0.x RESTful API (port 19121), translated onto Quiver's internal model.

Shapes, status codes, error codes and limits follow shared/spec/milvus-v1-rest.md as corrected
by shared/spec/notes/milvus-v1-behaviour.md: ids and distances are strings, a missing
collection is 404 only under /collections, every response carries the CORS headers.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from aiohttp import web

from quiver.cluster import ClusterClient
from proxy.errors import v1_error_middleware
from proxy.http import json_response, observe, read_json, read_json_object, read_limited
from proxy.openapi import document_handler
from proxy.surfaces.auth import Access
from proxy.surfaces.limits import DATA_BODY_BYTES, MAX_NQ, MAX_PAGE_BYTES
from quiver import __version__, bulk
from quiver.catalogue import V1_METRICS, Dialect, VectorKind, index_type_for, metric
from quiver.errors import ErrorCode, QuiverError
from quiver.ids import MAX_ID
from quiver.schema import (
    DEFAULT_PARTITION,
    DYNAMIC_FIELD,
    Collection,
    IndexSpec,
    IndexState,
    Node,
    RuntimeConfig,
    Segment,
    VectorLayout,
    validate_collection,
    validate_collection_name,
    vector_collection,
)

CLUSTER = web.AppKey("cluster", ClusterClient)
ACCESS = web.AppKey("access", Access)
INSERT_BODY_BYTES = web.AppKey("insert_body_bytes", int)

API_VERSION = "0.10.5"  # the Milvus release whose REST API this surface reproduces
MAX_TOPK = 16384
MAX_GET_IDS = 1000
MAX_INSERT_VECTOR_BYTES = 256 * 1024 * 1024
DEFAULT_INDEX_FILE_SIZE_MB = 1024
DEFAULT_PAGE_SIZE = 10

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "DNT, User-Agent, X-Requested-With, If-Modified-Since, Cache-Control, "
        "Content-Type, Range, Authorization"
    ),
    "Access-Control-Max-Age": "1728000",
}
_DIGITS = re.compile(r"[0-9]{1,19}")
INT64 = range(-(2**63), 2**63)  # what the gRPC messages carry


def status_body(code: int = 0, message: str = "OK") -> dict[str, Any]:
    return {"message": message, "code": code}


def render_error(status: int, code: int, message: str) -> web.Response:
    return json_response(status_body(code, message), status=status)


# -- request parsing ---------------------------------------------------------------------------


def _paging(request: web.Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None:
            return default
        if not _DIGITS.fullmatch(raw) or int(raw) > MAX_ID:
            raise QuiverError(
                ErrorCode.INVALID_QUERY_PARAM, f"query parameter {name}={raw!r} is not a non-negative integer"
            )
        return int(raw)

    return number("offset", 0), number("page_size", DEFAULT_PAGE_SIZE)


def _page(items: list[Any], offset: int, page_size: int) -> list[Any]:
    offset = min(offset, len(items))
    return items[offset : offset + page_size]


def _require(body: dict[str, Any], key: str) -> Any:
    value = body.get(key)
    if value is None:
        raise QuiverError(ErrorCode.MISSING_PARAMETER, f"field '{key}' is missing")
    return value


def _integer(value: Any, name: str) -> int:
    """A JSON integer (a float is truncated, as Milvus' JSON mapper did); else a parse error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"field '{name}' must be an integer")
    if (isinstance(value, float) and not np.isfinite(value)) or int(value) not in INT64:
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"field '{name}' must be an int64 integer")
    return int(value)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"field '{name}' must be a string")
    return value


def _id_list(raw: Any, name: str) -> np.ndarray:
    """Ids given as digit strings (or JSON integers) into int64."""
    if not isinstance(raw, list):
        raise QuiverError(ErrorCode.INVALID_BODY, f"field '{name}' must be an array of id strings")
    values = []
    for item in raw:
        if isinstance(item, str) and _DIGITS.fullmatch(item) and int(item) <= MAX_ID:
            values.append(int(item))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= MAX_ID:
            values.append(item)
        else:
            raise QuiverError(
                ErrorCode.INVALID_BODY, f"'{name}' holds {item!r}, which is not an int64 id string"
            )
    return np.array(values, dtype=np.int64)


def decode_vectors(raw: Any, layout: VectorLayout) -> np.ndarray:
    """JSON vectors into one (n, width) array of the layout's dtype, with precise errors."""
    return fit_vectors(parse_vectors(raw), layout)


def parse_vectors(raw: Any) -> np.ndarray | list[list[Any]]:
    """JSON vectors checked to be a non-empty array of arrays of numbers: an (n, width) array,
    or the rows themselves where they differ in width. Widths are `fit_vectors`' business, as
    Milvus checks the dimension after everything else."""
    if not isinstance(raw, list) or not all(isinstance(row, list) for row in raw):
        raise QuiverError(ErrorCode.INVALID_BODY, "'vectors' must be an array of arrays of numbers")
    if not raw:
        raise QuiverError(ErrorCode.INVALID_VECTORS, "'vectors' is empty")
    try:
        array = np.array(raw)
    except (ValueError, OverflowError):  # ragged rows, or numbers out of range
        array = None
    numeric = array is not None and array.ndim == 2 and array.dtype.kind in "iuf"
    if numeric and not _holds_booleans(raw, array):
        return array
    for i, row in enumerate(raw):
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in row):
            raise QuiverError(ErrorCode.MALFORMED_BODY, f"vectors[{i}] holds a value that is not a number")
    return raw


def _holds_booleans(raw: list[list[Any]], array: np.ndarray) -> bool:
    """Whether numpy read a JSON true or false as 1 or 0. Only vectors holding a 0 or a 1 need
    the scan of every value's type, which would otherwise cost most of a second parse."""
    if not ((array == 0) | (array == 1)).any():
        return False
    return bool in set(map(type, itertools.chain.from_iterable(raw)))


def fit_vectors(parsed: np.ndarray | list[list[Any]], layout: VectorLayout) -> np.ndarray:
    """Parsed vectors as the collection stores them: the dimension and value range checked."""
    if isinstance(parsed, np.ndarray):
        if parsed.shape[1] != layout.width:
            raise _dimension_error(parsed.shape[1], layout)
        return _checked(parsed, layout)
    for row in parsed:
        if len(row) != layout.width:
            raise _dimension_error(len(row), layout)
    raise QuiverError(ErrorCode.INVALID_VECTORS, "'vectors' could not be read as numbers")


def _dimension_error(width: int, layout: VectorLayout) -> QuiverError:
    unit = "numbers" if layout.kind is VectorKind.FLOAT else "bytes (dimension / 8)"
    return QuiverError(
        ErrorCode.INVALID_DIMENSION,
        f"a vector has {width} elements; this collection takes {layout.width} {unit}",
    )


def _checked(array: np.ndarray, layout: VectorLayout) -> np.ndarray:
    if layout.kind is VectorKind.BINARY:
        if array.dtype.kind == "f" or array.min() < 0 or array.max() > 255:
            raise QuiverError(
                ErrorCode.INVALID_VECTORS, "binary vectors are arrays of byte values 0..255"
            )
        return array.astype(np.uint8)
    with np.errstate(over="ignore"):
        vectors = array.astype(np.float32)
    if not np.isfinite(vectors).all():
        raise QuiverError(ErrorCode.INVALID_VECTORS, "vectors must hold finite float32 numbers")
    return vectors


def v1_collection(collection: Collection) -> Collection:
    """0.x ids are int64: a collection keyed by VarChar is only reachable through REST v2."""
    if not collection.ids_are_keys:
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"collection {collection.name!r} has a VarChar primary key: use the REST v2 API",
        )
    return collection


def v1_scalars(collection: Collection, rows: int) -> pa.Table | None:
    """0.x rows carry no scalar fields: an empty dynamic field, or a refusal when the schema
    has fields of its own to fill."""
    fields = collection.schema.scalar_fields
    if fields:
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"collection {collection.name!r} has scalar fields {[f.name for f in fields]}: "
            "insert through the REST v2 API",
        )
    if not collection.enable_dynamic_field:
        return None
    return pa.table({DYNAMIC_FIELD: pa.array(["{}"] * rows, type=pa.string())})


def _distance(value: float) -> str:
    return f"{value:f}"


# -- rendering ---------------------------------------------------------------------------------


def index_name(spec: IndexSpec | None) -> str:
    """The Milvus 0.x name of a collection's index (FLAT when it has none)."""
    if spec is None:
        return "FLAT"
    kind = spec.catalogue_type
    return spec.dialect_name or (kind.v1_names[0] if kind.v1_names else kind.name)


def index_params(spec: IndexSpec | None) -> dict[str, Any]:
    """The build parameters as the client gave them, as Milvus 0.x showed them back (not with
    the defaults that validation added; those for an index created through another API)."""
    if spec is None:
        return {}
    return spec.params if spec.client_params is None else spec.client_params


def collection_info(collection: Collection, row_count: int) -> dict[str, Any]:
    spec = collection.vector_index
    return {
        "collection_name": collection.name,
        "dimension": collection.dim,
        "index_file_size": collection.index_file_size_mb,
        "index": index_name(spec),
        # A JSON string, as Milvus 0.10 served it.
        "index_params": orjson.dumps(index_params(spec)).decode(),
        "metric_type": collection.metric_type,
        "count": row_count,
    }


def segment_index_name(collection: Collection, segment: Segment) -> str:
    """The engine name Milvus 0.x showed per segment: IDMAP until the segment is indexed."""
    spec = collection.vector_index
    if spec is None or segment.index_version != spec.version or segment.index_state is not IndexState.FINISHED:
        return "IDMAP"
    return spec.catalogue_type.engine_name


# -- handlers ----------------------------------------------------------------------------------


async def welcome(request: web.Request) -> web.Response:
    return web.Response(text="Welcome to milvus")  # what 0.x clients' liveness probes expect


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def state(request: web.Request) -> web.Response:
    ready, reason = await request.app[CLUSTER].ready()
    if not ready:
        return render_error(503, 2, f"cluster not ready: {reason}")
    return json_response(status_body(message="Success"))


async def list_collections(request: web.Request) -> web.Response:
    offset, page_size = _paging(request)
    listing = await request.app[CLUSTER].list_collections()
    if request.query.get("all_required") == "true":
        offset, page_size = 0, len(listing)
    page = _page(listing, offset, page_size)
    return json_response(
        {"collections": [collection_info(c, rows) for c, rows in page], "count": len(listing)}
    )


async def create_collection(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _no_unknown_fields(body, {"collection_name", "dimension", "index_file_size", "metric_type"})
    name = _string(_require(body, "collection_name"), "collection_name")
    dimension = _integer(_require(body, "dimension"), "dimension")
    size = body.get("index_file_size")
    index_file_size = DEFAULT_INDEX_FILE_SIZE_MB if size is None else _integer(size, "index_file_size")
    # Absent or null: L2. An empty string names no metric, and is refused as unknown (code 23).
    given_metric = body.get("metric_type")
    metric_type = "L2" if given_metric is None else _string(given_metric, "metric_type")
    if metric_type not in V1_METRICS:
        raise QuiverError(ErrorCode.INVALID_METRIC, f"metric_type {metric_type!r} is not supported")
    spec = vector_collection(name, dimension, metric_type, index_file_size)
    validate_collection(spec)  # before the int32 fields of the gRPC request see the numbers
    await request.app[CLUSTER].create_collection(spec)
    return json_response(status_body(), status=201)


async def get_collection(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    status = await request.app[CLUSTER].describe(name)
    if request.query.get("info") == "stat":
        return json_response(collection_stat(status.collection, status.segments))
    rows = sum(s.live_rows for s in status.segments)
    return json_response(collection_info(status.collection, rows))


def segments_by_partition(collection: Collection, segments: list[Segment]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each partition's tag and segments, _default first (it is created first)."""
    listed = []
    for partition in collection.partitions:
        entries = [
            {
                "name": str(s.id),
                "row_count": s.live_rows,
                "index_name": segment_index_name(collection, s),
                "data_size": s.data_bytes,
            }
            for s in segments
            if s.partition_id == partition.id and s.row_count
        ]
        listed.append((partition.name, entries))
    return listed


def collection_stat(collection: Collection, segments: list[Segment]) -> dict[str, Any]:
    partitions = [
        {"tag": tag, "row_count": sum(e["row_count"] for e in entries), "segments": entries}
        for tag, entries in segments_by_partition(collection, segments)
    ]
    return {"row_count": sum(p["row_count"] for p in partitions), "partitions": partitions}


async def drop_collection(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    await request.app[CLUSTER].drop_collection(name)
    return web.Response(status=204)


async def insert(request: web.Request) -> web.Response:
    if request.content_type in bulk.MEDIA_TYPES:
        return await _insert_binary(request)
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    body = await read_json_object(request, request.app[INSERT_BODY_BYTES])
    collection = v1_collection(await cluster.collection(name))
    vectors = decode_vectors(_require(body, "vectors"), collection.layout)
    if vectors.nbytes > MAX_INSERT_VECTOR_BYTES:
        raise QuiverError(ErrorCode.REQUEST_TOO_LARGE, "one insert takes at most 256 MB of vector data")
    ids = None
    if body.get("ids") is not None:
        ids = _id_list(body["ids"], "ids")
        if len(ids) != len(vectors):
            raise QuiverError(
                ErrorCode.INVALID_IDS, f"{len(ids)} ids for {len(vectors)} vectors: give one id per vector, or none"
            )
    tag = _string(body.get("partition_tag") or DEFAULT_PARTITION, "partition_tag").strip()
    partition = collection.partition(tag or DEFAULT_PARTITION)
    stored = await cluster.insert(collection, partition.id, vectors, ids, v1_scalars(collection, len(vectors)))
    return json_response({"ids": [str(i) for i in stored.tolist()]}, status=201)


async def _insert_binary(request: web.Request) -> web.Response:
    """Quiver's bulk extension: vectors as .npy, .fvecs or Arrow bytes (see quiver.bulk), the
    partition in `?partition_tag=`. Replies with the count, and the first and last id when the
    ids were allocated (they are consecutive): no list of a million id strings."""
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    collection = v1_collection(await cluster.collection(name))
    raw = await read_limited(request, request.app[INSERT_BODY_BYTES])
    vectors, ids = bulk.decode(request.content_type, raw, collection.layout)
    if vectors.nbytes > MAX_INSERT_VECTOR_BYTES:
        raise QuiverError(ErrorCode.REQUEST_TOO_LARGE, "one insert takes at most 256 MB of vector data")
    if ids is not None and len(ids) != len(vectors):
        raise QuiverError(ErrorCode.INVALID_IDS, f"{len(ids)} ids for {len(vectors)} vectors")
    partition = collection.partition(request.query.get("partition_tag", "").strip() or DEFAULT_PARTITION)
    stored = await cluster.insert(collection, partition.id, vectors, ids, v1_scalars(collection, len(vectors)))
    reply: dict[str, Any] = {"code": 0, "message": "OK", "count": len(stored)}
    if ids is None:
        reply.update(first_id=str(stored[0]), last_id=str(stored[-1]))
    return json_response(reply, status=201)


async def vectors_op(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    body = await read_json_object(request, DATA_BODY_BYTES)
    if "delete" in body:
        return await _delete(request, name, body["delete"])
    if "search" in body:
        return await _search(request, name, body["search"])
    raise QuiverError(ErrorCode.INVALID_BODY, "Unknown body: expected a 'search' or 'delete' object")


async def _delete(request: web.Request, name: str, spec: Any) -> web.Response:
    if not isinstance(spec, dict) or not isinstance(spec.get("ids"), list):
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "'delete' needs an 'ids' array")
    raw = spec["ids"]
    if any(not isinstance(item, str) for item in raw):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'ids' must hold id strings")
    ids = _id_list(raw, "ids")
    cluster = request.app[CLUSTER]
    collection = v1_collection(await cluster.collection(name))
    if len(ids):
        await cluster.delete(collection, ids)
    return json_response({"code": 0, "message": "OK"})


async def _search(request: web.Request, name: str, spec: Any) -> web.Response:
    """Checks in Milvus' order (the notes, §3.8): body fields, the collection, the vectors'
    shape, topk, partition tags, search parameters, and the dimension last."""
    if not isinstance(spec, dict):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'search' must be an object")
    topk = _integer(_require(spec, "topk"), "topk")
    params = _require(spec, "params")
    if not isinstance(params, dict):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'params' must be an object")
    tags = _optional_list(spec, "partition_tags")
    file_ids = _optional_list(spec, "file_ids")
    cluster = request.app[CLUSTER]
    collection = v1_collection(await cluster.collection(name))
    by_ids = spec.get("vectors") is None and spec.get("ids") is not None
    wanted = _id_list(spec["ids"], "ids") if by_ids else parse_vectors(_require(spec, "vectors"))
    if len(wanted) > MAX_NQ:
        raise QuiverError(ErrorCode.INVALID_VECTORS, f"{len(wanted)} query vectors: one search takes at most {MAX_NQ}")
    if not 1 <= topk <= MAX_TOPK:
        raise QuiverError(ErrorCode.INVALID_TOPK, f"topk {topk} is out of range [1, {MAX_TOPK}]")
    partition_ids = _partitions_matching(collection, tags) if tags and not file_ids else set()
    index = collection.vector_index
    search_params = index.catalogue_type.validate_search(params, Dialect.V1, topk) if index else {}
    if by_ids:
        queries = await _stored_vectors(cluster, collection, wanted)
    else:
        queries = fit_vectors(wanted, collection.layout)
    segment_ids = await _segments_named(cluster, collection, file_ids) if file_ids else set()
    found = await cluster.search(
        collection,
        queries,
        topk,
        metric(collection.metric_type),
        partition_ids,
        segment_ids,
        orjson.dumps(search_params).decode(),
    )
    ids, distances = found.ids, found.distances
    if (ids < 0).all() and not (await cluster.query(collection, set(), "", [], 0)).count:
        return json_response({"num": 0, "results": [], "result": []})  # as Milvus 0.x: an empty collection
    results = [
        [
            {"id": str(i), "distance": _distance(d)}
            for i, d in zip(row_ids.tolist(), row_distances.tolist())
            if i >= 0
        ]
        for row_ids, row_distances in zip(ids, distances)
    ]
    return json_response({"num": len(queries), "results": results, "result": results})


def _optional_list(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"'{key}' must be an array")
    return value


async def _stored_vectors(cluster: ClusterClient, collection: Collection, ids: np.ndarray) -> np.ndarray:
    """The vectors stored under these ids, for a search by ids."""
    if not len(ids):
        raise QuiverError(ErrorCode.INVALID_VECTORS, "'ids' is empty")
    found = await cluster.get_vectors(collection, np.unique(ids))
    missing = [i for i in ids.tolist() if not found.get(i)]
    if missing:
        raise QuiverError(ErrorCode.INVALID_IDS, f"ids {missing[:10]} are not in collection {collection.name!r}")
    return fit_vectors(np.array([found[i] for i in ids.tolist()]), collection.layout)


def _partitions_matching(collection: Collection, tags: list[Any]) -> set[int]:
    """Partitions whose tag fully matches one of the patterns (Milvus treats tags as regexes)."""
    patterns = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise QuiverError(ErrorCode.PARTITION_NAME_INVALID, f"invalid partition tag {tag!r}")
        try:
            patterns.append(re.compile(tag.strip()))
        except re.error as error:
            raise QuiverError(ErrorCode.PARTITION_NAME_INVALID, f"invalid partition tag {tag!r}: {error}") from None
    chosen = {p.id for p in collection.partitions if any(r.fullmatch(p.name) for r in patterns)}
    if not chosen:
        raise QuiverError(ErrorCode.PARTITION_NO_MATCH, f"no partition matches the tags {tags}")
    return chosen


async def _segments_named(cluster: ClusterClient, collection: Collection, names: list[Any]) -> set[int]:
    wanted = set()
    for name in names:
        if not isinstance(name, str) or not _DIGITS.fullmatch(name):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"file id {name!r} is not a segment name")
        wanted.add(int(name))
    unknown = wanted - await cluster.segment_ids(collection)
    if unknown:
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"segments {sorted(unknown)} do not belong to collection {collection.name!r}",
        )
    return wanted


async def get_vectors(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    raw = request.query.get("ids")
    if raw is None:
        raise QuiverError(ErrorCode.MISSING_QUERY_PARAM, "query parameter 'ids' is missing")
    parts = raw.split(",") if raw else []
    if not parts or any(not _DIGITS.fullmatch(p.strip()) or int(p) > MAX_ID for p in parts):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"ids={raw!r} must be 1 to {MAX_GET_IDS} comma-separated int64 ids")
    if len(parts) > MAX_GET_IDS:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"at most {MAX_GET_IDS} ids per request")
    ids = np.array([int(p) for p in parts], dtype=np.int64)
    cluster = request.app[CLUSTER]
    collection = v1_collection(await cluster.collection(name))
    found = await cluster.get_vectors(collection, np.unique(ids))
    vectors = [
        {"vector": found.get(i, []), "id": str(i)} for i in ids.tolist()
    ]
    return json_response({"code": 0, "message": "OK", "vectors": vectors})


async def list_partitions(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    offset, page_size = _paging(request)
    collection = await request.app[CLUSTER].collection(name)
    tags = [p.name for p in collection.partitions]
    page = _page(tags, offset, page_size)
    return json_response({"partitions": [{"partition_tag": t} for t in page], "count": len(tags)})


async def create_partition(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    body = await read_json_object(request)
    _no_unknown_fields(body, {"partition_tag"})
    tag = _string(_require(body, "partition_tag"), "partition_tag").strip()
    await cluster.create_partition(name, tag)
    return json_response(status_body(), status=201)


async def drop_partition(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    try:
        body = await read_json_object(request)
    except QuiverError as error:  # Milvus answered every unreadable body here with 36
        raise QuiverError(ErrorCode.MALFORMED_BODY, error.message) from None
    tag = body.get("partition_tag")
    if not isinstance(tag, str):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'partition_tag' must be a string")
    await cluster.collection(name)
    await cluster.drop_partition(name, tag.strip())
    return web.Response(status=204)


async def list_segments(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    offset, page_size = _paging(request)
    wanted = request.query.get("partition_tag")
    status = await request.app[CLUSTER].describe(name)
    entries = [
        {**entry, "partition_tag": tag}
        for tag, listed in segments_by_partition(status.collection, status.segments)
        if wanted is None or tag == wanted.strip()
        for entry in listed
    ]
    page = _page(entries, offset, page_size)
    return json_response({"segments": page, "count": len(entries), "code": 0, "message": "OK"})


async def segment_rows(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    info = request.match_info["info"]
    if info not in ("ids", "vectors"):
        raise web.HTTPNotFound()
    offset, page_size = _paging(request)
    collection = await cluster.collection(name)
    segment = request.match_info["segment"]
    if not _DIGITS.fullmatch(segment):
        raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment!r} not found")
    row_bytes = 8 + (collection.layout.row_bytes if info == "vectors" else 0)  # an id, and its vector
    if page_size * row_bytes > MAX_PAGE_BYTES:
        raise QuiverError(
            ErrorCode.INVALID_QUERY_PARAM,
            f"page_size {page_size}: a page of a segment's {info} takes at most {MAX_PAGE_BYTES // (1024 * 1024)} MB",
        )
    total, ids, vectors = await cluster.segment_rows(
        collection, int(segment), offset, page_size, with_vectors=info == "vectors"
    )
    if vectors is None:
        return json_response({"ids": [str(i) for i in ids.tolist()], "count": total})
    rows = [{"vector": v, "id": str(i)} for i, v in zip(ids.tolist(), vectors)]
    return json_response({"vectors": rows, "count": total, "code": 0, "message": "OK"})


async def get_index(request: web.Request) -> web.Response:
    name = validate_collection_name(request.match_info["name"])
    spec = (await request.app[CLUSTER].collection(name)).vector_index
    return json_response({"index_type": index_name(spec), "params": index_params(spec)})


async def create_index(request: web.Request) -> web.Response:
    """Answers once every sealed segment's build has finished, as Milvus 0.x did."""
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    body = await read_json_object(request)
    type_name = _string(_require(body, "index_type"), "index_type")
    params = _require(body, "params")
    if not isinstance(params, dict):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'params' must be an object")
    collection = await cluster.collection(name)
    kind = index_type_for(type_name, Dialect.V1, collection.layout.kind)
    if kind.needs_gpu and not await cluster.gpus_available():
        raise QuiverError(ErrorCode.INVALID_INDEX_TYPE, f"{type_name} needs a GPU, and no index node has one")
    spec = IndexSpec(
        field_name=collection.vector_field.name,
        index_type=kind.name,
        metric_type=collection.metric_type,
        params=kind.validate_build(params, Dialect.V1, collection.dim),
        dialect_name=type_name,
        client_params=params,
    )
    await cluster.create_index(name, spec, replace=True)
    progress = await cluster.wait_for_index(name)
    if progress is not None and progress.state is IndexState.FAILED:
        raise QuiverError(ErrorCode.INDEX_BUILD_FAILED, f"index build failed: {progress.fail_reason}")
    return json_response(status_body(), status=201)


async def drop_index(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    name = validate_collection_name(request.match_info["name"])
    if (await cluster.collection(name)).vector_index is not None:
        await cluster.drop_index(name)
    return web.Response(status=204)


# -- runtime settings and devices ----------------------------------------------------------------

ADVANCED_DEFAULTS = RuntimeConfig()


def _optional_setting(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """A PUT /config field: absent takes Milvus' default (and is written); null is refused."""
    if key not in body:
        return default
    value = body[key]
    if value is None:
        raise QuiverError(ErrorCode.MISSING_PARAMETER, f"field '{key}' is null")
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind) or (kind is int and value not in INT64):
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"field '{key}' must be {'a boolean' if kind is bool else 'an int64 integer'}")
    return value


def _no_unknown_fields(body: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"unknown fields {unknown}")


async def get_advanced_config(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    config = await cluster.runtime_config()
    body: dict[str, Any] = {
        "cpu_cache_capacity": config.cpu_cache_capacity_gb,
        "cache_insert_data": config.cache_insert_data,
        "use_blas_threshold": config.use_blas_threshold,
    }
    if await cluster.gpus_available():  # Milvus showed it in GPU builds only
        body["gpu_search_threshold"] = config.gpu_search_threshold
    return json_response(body)


async def put_advanced_config(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_json_object(request)
    _no_unknown_fields(body, {"cpu_cache_capacity", "cache_insert_data", "use_blas_threshold", "gpu_search_threshold"})
    d = ADVANCED_DEFAULTS
    current = await cluster.runtime_config()
    config = replace(
        current,
        cpu_cache_capacity_gb=_optional_setting(body, "cpu_cache_capacity", int, d.cpu_cache_capacity_gb),
        cache_insert_data=_optional_setting(body, "cache_insert_data", bool, d.cache_insert_data),
        use_blas_threshold=_optional_setting(body, "use_blas_threshold", int, d.use_blas_threshold),
        gpu_search_threshold=_optional_setting(body, "gpu_search_threshold", int, d.gpu_search_threshold),
    )
    await cluster.set_runtime_config(config)
    return json_response(status_body())


_GPU_NAME = re.compile(r"gpu(\d{1,3})", re.IGNORECASE)


def _devices(body: dict[str, Any], key: str) -> tuple[int, ...]:
    names = body.get(key)
    if names is None:
        return (0,)  # Milvus' default: ["GPU0"]
    return _device_numbers(names, key)


def _device_numbers(names: Any, key: str) -> tuple[int, ...]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"'{key}' must be an array of device names")
    devices = []
    for name in names:
        match = _GPU_NAME.fullmatch(name.strip())
        if match is None:
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"{name!r} is not a device name like GPU0")
        devices.append(int(match.group(1)))
    return tuple(devices)


async def get_gpu_config(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    config = await cluster.runtime_config()
    return json_response(
        {
            "enable": config.gpu_enable and await cluster.gpus_available(),
            "cache_capacity": config.gpu_cache_capacity_gb,
            "search_resources": [f"GPU{d}" for d in config.gpu_search_devices],
            "build_index_resources": [f"GPU{d}" for d in config.gpu_build_devices],
        }
    )


async def put_gpu_config(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    body = await read_json_object(request)
    _no_unknown_fields(body, {"enable", "cache_capacity", "search_resources", "build_index_resources"})
    enable = _require(body, "enable")
    capacity = _require(body, "cache_capacity")
    if not isinstance(enable, bool):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'enable' must be a boolean")
    capacity = _integer(capacity, "cache_capacity")
    current = await cluster.runtime_config()
    config = replace(
        current,
        gpu_enable=enable,
        gpu_cache_capacity_gb=capacity,
        gpu_search_devices=_devices(body, "search_resources"),
        gpu_build_devices=_devices(body, "build_index_resources"),
    )
    await cluster.set_runtime_config(config)
    return json_response(status_body(message="OK" if enable else "Set Gpu resources to false"))


async def devices(request: web.Request) -> web.Response:
    """The memory and GPUs of the cluster's machines (each host counted once)."""
    hosts: dict[str, Node] = {}
    for node in await request.app[CLUSTER].nodes():
        if node.alive:
            hosts.setdefault(node.address.rsplit(":", 1)[0], node)
    gib = 1024**3
    gpus = [m for node in hosts.values() for m in node.gpu_memory_bytes]
    return json_response(
        {
            "cpu": {"memory": sum(n.memory_bytes for n in hosts.values()) // gib},
            "gpus": {f"GPU{i}": {"memory": m // gib} for i, m in enumerate(gpus)},
        }
    )


# -- system ------------------------------------------------------------------------------------


async def system_info(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    msg = request.match_info["msg"]
    if msg == "config":
        return json_response({**await _config_document(cluster), "restart_required": False})
    if msg == "version":
        reply = API_VERSION
    elif msg == "status":
        ready, reason = await cluster.ready()
        reply = "OK" if ready else f"NOT READY: {reason}"
    elif msg == "mode":
        reply = "GPU" if await cluster.gpus_available() else "CPU"
    elif msg == "build_commit_id":
        reply = f"quiver-{__version__}"
    elif msg == "info":
        reply = orjson.dumps(await _system_document(cluster)).decode()
    elif msg == "tasktable":
        reply = orjson.dumps(await _index_tasks(cluster)).decode()
    else:
        reply = "Unknown command"
    return json_response({"code": 0, "message": "OK", "reply": reply})


async def _system_document(cluster: ClusterClient) -> dict[str, Any]:
    nodes = await cluster.nodes()
    collections = await cluster.list_collections()
    return {
        "server": f"Quiver {__version__}",
        "api_version": API_VERSION,
        "collections": len(collections),
        "rows": sum(rows for _, rows in collections),
        "nodes": [
            {"node_id": n.node_id, "role": n.role.name.lower(), "address": n.address,
             "alive": n.alive, "cpus": n.cpu_count, "memory": n.memory_bytes, "gpus": n.gpu_count}
            for n in nodes
        ],
    }


async def _index_tasks(cluster: ClusterClient) -> list[dict[str, Any]]:
    """Index builds still pending, per collection."""
    tasks = []
    for collection, _ in await cluster.list_collections():
        if collection.vector_index is None:
            continue
        progress = (await cluster.describe(collection.name)).index_progress
        if progress is not None and progress.pending_rows:
            tasks.append({"collection_name": collection.name, "index": index_name(collection.vector_index),
                          "pending_rows": progress.pending_rows, "indexed_rows": progress.indexed_rows})
    return tasks


def _config_int(value: Any, key: str) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):  # Milvus' config values are strings
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in INT64:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"{key} must be an int64 integer, not {value!r}")
    return value


def _config_bool(value: Any, key: str) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"{key} must be true or false, not {value!r}")
    return value


def _config_devices(value: Any, key: str) -> tuple[int, ...]:
    names = value.split(",") if isinstance(value, str) else value
    return _device_numbers(names, key)


# The settings /system/config shows and sets, as `section.key`, with the runtime setting each
# one is and how a value given for it is read.
CONFIG_KEYS: dict[tuple[str, str], tuple[str, Callable[[Any, str], Any]]] = {
    ("cache_config", "cpu_cache_capacity"): ("cpu_cache_capacity_gb", _config_int),
    ("cache_config", "cache_insert_data"): ("cache_insert_data", _config_bool),
    ("engine_config", "use_blas_threshold"): ("use_blas_threshold", _config_int),
    ("engine_config", "gpu_search_threshold"): ("gpu_search_threshold", _config_int),
    ("gpu_resource_config", "enable"): ("gpu_enable", _config_bool),
    ("gpu_resource_config", "cache_capacity"): ("gpu_cache_capacity_gb", _config_int),
    ("gpu_resource_config", "search_resources"): ("gpu_search_devices", _config_devices),
    ("gpu_resource_config", "build_index_resources"): ("gpu_build_devices", _config_devices),
}


async def _config_document(cluster: ClusterClient) -> dict[str, Any]:
    config = await cluster.runtime_config()
    document: dict[str, dict[str, Any]] = {}
    for (section, key), (attribute, _) in CONFIG_KEYS.items():
        value = getattr(config, attribute)
        document.setdefault(section, {})[key] = [f"GPU{d}" for d in value] if isinstance(value, tuple) else value
    return document


async def _set_config(request: web.Request) -> web.Response:
    """`{section: {key: value}}`: every setting is checked before any is applied."""
    body = await read_json(request)
    if not isinstance(body, dict) or not all(isinstance(keys, dict) for keys in body.values()):
        raise QuiverError(ErrorCode.INVALID_BODY, "body must be an object of {section: {key: value}}")
    cluster = request.app[CLUSTER]
    changes, done = {}, []
    for section, keys in body.items():
        for key, value in keys.items():
            if (section, key) not in CONFIG_KEYS:
                raise QuiverError(ErrorCode.INVALID_PARAMETER, f"unknown config key {section}.{key}")
            attribute, read = CONFIG_KEYS[section, key]
            changes[attribute] = read(value, f"{section}.{key}")
            done.append(f"set_config {section}.{key} {value} successfully;")
    await cluster.set_runtime_config(replace(await cluster.runtime_config(), **changes))
    return json_response({"code": 0, "message": "".join(done), "restart_required": False})


async def system_op(request: web.Request) -> web.Response:
    op = request.match_info["msg"]
    if op == "config":
        return await _set_config(request)
    if op != "task":
        raise QuiverError(ErrorCode.UNKNOWN_COMMAND, f"Unknown path: /system/{op}")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise QuiverError(ErrorCode.INVALID_BODY, "body must be an object with 'flush', 'compact' or 'load'")
    cluster = request.app[CLUSTER]
    if "flush" in body:
        await cluster.flush(_flush_names(body["flush"]))
    elif "load" in body:
        spec = body["load"]
        name = spec.get("collection_name") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            raise QuiverError(ErrorCode.MISSING_PARAMETER, "'load' needs a 'collection_name' string")
        await cluster.load(await cluster.collection(validate_collection_name(name)))
    elif "compact" in body:
        spec = body["compact"]
        name = spec.get("collection_name") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            raise QuiverError(ErrorCode.MISSING_PARAMETER, "'compact' needs a 'collection_name' string")
        await cluster.compact(validate_collection_name(name))
    else:
        raise QuiverError(ErrorCode.INVALID_BODY, "body must hold 'flush', 'compact' or 'load'")
    return json_response({"code": 0, "message": "OK"})


def _flush_names(spec: Any) -> list[str]:
    names = spec.get("collection_names") if isinstance(spec, dict) else None
    if not isinstance(names, list):
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "'flush' needs a 'collection_names' array")
    if any(not isinstance(n, str) for n in names):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "'collection_names' must hold strings")
    return [validate_collection_name(n) for n in names]


# -- application ------------------------------------------------------------------------------


async def _cors(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(CORS_HEADERS)


@web.middleware
async def _rate_limit(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """0.x has no users: the limit is per client address."""
    await request.app[ACCESS].admit(request)
    return await handler(request)


openapi = document_handler("milvus-v1")


def create_app(
    cluster: ClusterClient, max_body_bytes: int, access: Access, access_log_sample: float = 1.0
) -> web.Application:
    """`max_body_bytes` bounds an insert's body; other bodies take far less (limits.py).
    `access_log_sample`: the fraction of requests written to the access log (proxy/http.py)."""
    app = web.Application(
        middlewares=[observe("v1", access_log_sample), v1_error_middleware(render_error), _rate_limit],
        client_max_size=max_body_bytes,
    )
    app[CLUSTER] = cluster
    app[ACCESS] = access
    app[INSERT_BODY_BYTES] = max_body_bytes
    app.on_response_prepare.append(_cors)
    routes: list[tuple[str, list[tuple[str, Any]]]] = [
        ("/", [("GET", welcome)]),
        ("/openapi.json", [("GET", openapi)]),
        ("/state", [("GET", state)]),
        ("/collections", [("GET", list_collections), ("POST", create_collection)]),
        ("/collections/{name}", [("GET", get_collection), ("DELETE", drop_collection)]),
        (
            "/collections/{name}/indexes",
            [("GET", get_index), ("POST", create_index), ("DELETE", drop_index)],
        ),
        (
            "/collections/{name}/partitions",
            [("GET", list_partitions), ("POST", create_partition), ("DELETE", drop_partition)],
        ),
        ("/collections/{name}/segments", [("GET", list_segments)]),
        ("/collections/{name}/segments/{segment}/{info}", [("GET", segment_rows)]),
        (
            "/collections/{name}/vectors",
            [("GET", get_vectors), ("POST", insert), ("PUT", vectors_op)],
        ),
        ("/system/{msg}", [("GET", system_info), ("PUT", system_op)]),
        ("/config/advanced", [("GET", get_advanced_config), ("PUT", put_advanced_config)]),
        ("/config/gpu_resources", [("GET", get_gpu_config), ("PUT", put_gpu_config)]),
        ("/devices", [("GET", devices)]),
    ]
    for path, handlers in routes:
        resource = app.router.add_resource(path)
        for method, handler in handlers:
            resource.add_route(method, handler)
        resource.add_route("OPTIONS", preflight)
    return app
