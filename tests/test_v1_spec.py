"""Conformance of the Milvus 0.x REST surface to shared/spec/milvus-v1-rest.md, as corrected by
shared/spec/notes/milvus-v1-behaviour.md (the notes win where the two disagree).

Every route runs the document's own example (collection names made unique) and checks the exact
shape the notes give; every error case of the notes' section 3 is checked for its HTTP status and
error code, and, for writes, that nothing changed. What tests/test_v1_errors.py,
test_v1_partitions.py, test_v1_config.py, test_v1_search.py and test_v1_indexes.py already check
is not repeated here. `compact` is left out on purpose: it is being implemented.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.cluster import V1Client

OK = {"message": "OK", "code": 0}
TASK_OK = {"code": 0, "message": "OK"}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "DNT, User-Agent, X-Requested-With, If-Modified-Since, Cache-Control, Content-Type, Range, Authorization"
    ),
    "Access-Control-Max-Age": "1728000",
}
DEFAULT_ADVANCED = {"cpu_cache_capacity": 4, "cache_insert_data": False, "use_blas_threshold": 1100}
INFO_KEYS = {"collection_name", "dimension", "index_file_size", "index", "index_params", "metric_type", "count"}
STAT_SEGMENT_KEYS = {"name", "row_count", "index_name", "data_size"}
DIM = 4
GOOD = [[0.1, 0.2, 0.3, 0.4]]
DOC_VECTORS = [[0.1], [0.2], [0.3], [0.4]]  # the document's insert example (dimension 1)


# -- helpers -----------------------------------------------------------------------------------


def unique(prefix: str = "c") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def is_id(value: Any) -> bool:
    """Vector ids are JSON strings holding an int64."""
    return isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value) is not None and int(value) < 2**63


def is_distance(value: Any) -> bool:
    """Distances are C `%f` strings: exactly six decimals."""
    return isinstance(value, str) and re.fullmatch(r"-?[0-9]+\.[0-9]{6}", value) is not None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def assert_error_body(reply: Any) -> None:
    assert isinstance(reply, dict) and set(reply) == {"message", "code"}, reply
    assert isinstance(reply["message"], str) and reply["message"], reply
    assert is_int(reply["code"]), reply


async def expect_error(
    v1: V1Client, method: str, path: str, status: int | tuple[int, ...], code: int | tuple[int, ...], body: Any = None
) -> dict[str, Any]:
    """The request fails with `status` and error `code` (either may be a tuple of allowed values)."""
    got_status, reply = await v1.request(method, path, body)
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) else (code,)
    assert got_status in statuses and isinstance(reply, dict) and reply.get("code") in codes, (
        f"{method} {path} {body!r:.200}: expected {statuses} code {codes}, got {got_status} {reply!r:.300}"
    )
    assert_error_body(reply)
    return reply


async def expect(v1: V1Client, method: str, path: str, status: int, reply: Any, body: Any = None) -> None:
    got = await v1.request(method, path, body)
    assert got == (status, reply), f"{method} {path} {body!r:.200}"


@dataclass
class RawReply:
    status: int
    headers: Any
    text: str


async def raw_request(v1: V1Client, method: str, path: str, body: bytes | None = None) -> RawReply:
    headers = {"accept": "application/json", "Content-Type": "application/json"}
    async with v1.http.request(method, v1.base + path, data=body, headers=headers) as response:
        return RawReply(response.status, response.headers, await response.text())


def assert_cors(reply: RawReply) -> None:
    for header, value in CORS.items():
        assert reply.headers.get(header) == value, (header, reply.headers.get(header))


def assert_info(info: Any, name: str, dimension: int, index_file_size: int, metric: str,
                index: str = "FLAT", index_params: dict[str, Any] | None = None, count: int | None = None) -> None:
    assert isinstance(info, dict) and set(info) == INFO_KEYS, info
    assert info["collection_name"] == name
    assert is_int(info["dimension"]) and info["dimension"] == dimension
    assert is_int(info["index_file_size"]) and info["index_file_size"] == index_file_size
    assert info["metric_type"] == metric
    assert info["index"] == index
    assert isinstance(info["index_params"], str), "index_params is a JSON string (doc wrong)"
    assert orjson.loads(info["index_params"]) == (index_params or {})
    assert is_int(info["count"])
    if count is not None:
        assert info["count"] == count


def assert_stat_segment(segment: Any) -> None:
    assert isinstance(segment, dict) and set(segment) == STAT_SEGMENT_KEYS, segment
    assert isinstance(segment["name"], str) and segment["name"].isdigit()
    assert is_int(segment["row_count"]) and is_int(segment["data_size"])
    assert isinstance(segment["index_name"], str)


async def insert_rows(v1: V1Client, name: str, vectors: list[list[float]], **extra: Any) -> list[str]:
    """POST .../vectors; the ids as the server returned them (strings)."""
    status, reply = await v1.request("POST", f"/collections/{name}/vectors", {"vectors": vectors, **extra})
    assert status == 201, reply
    return reply["ids"]


async def flushed_count(v1: V1Client, name: str) -> int:
    await v1.flush(name)
    return (await v1.info(name))["count"]


async def partition_tags(v1: V1Client, name: str) -> list[str]:
    status, listing = await v1.request("GET", f"/collections/{name}/partitions?offset=0&page_size=100000")
    assert status == 200, listing
    return [p["partition_tag"] for p in listing["partitions"]]


async def collection_total(v1: V1Client) -> int:
    status, listing = await v1.request("GET", "/collections?offset=0&page_size=0")
    assert status == 200, listing
    return listing["count"]


async def search(v1: V1Client, name: str, search_body: dict[str, Any]) -> dict[str, Any]:
    status, reply = await v1.request("PUT", f"/collections/{name}/vectors", {"search": search_body})
    assert status == 200, reply
    return reply


async def create_index(v1: V1Client, name: str, index_type: str, params: dict[str, Any]) -> None:
    await expect(v1, "POST", f"/collections/{name}/indexes", 201, OK, {"index_type": index_type, "params": params})


@dataclass
class DocCollection:
    name: str
    ids: list[str]  # ids of DOC_VECTORS, in order


@pytest.fixture
async def doc_collection(v1: V1Client, name: str) -> DocCollection:
    """The document's collection: dimension 1, index_file_size 10, L2, holding 0.1 .. 0.4, flushed."""
    await v1.create_collection(name, 1, "L2", index_file_size=10)
    ids = await insert_rows(v1, name, DOC_VECTORS)
    await v1.flush(name)
    return DocCollection(name, ids)


@pytest.fixture
async def small_collection(v1: V1Client, name: str) -> str:
    """Dimension 4, three flushed rows (uses `name`: not for tests that also use doc_collection)."""
    await v1.create_collection(name, DIM)
    await insert_rows(v1, name, GOOD * 3)
    await v1.flush(name)
    return name


@pytest.fixture
async def restore_settings(v1: V1Client) -> AsyncIterator[None]:
    """Runtime settings are cluster-wide: put the defaults back for the tests that follow."""
    yield
    await v1.request("PUT", "/config/advanced", {})
    await v1.request("PUT", "/config/gpu_resources", {"enable": True, "cache_capacity": 1})


# -- §1: envelope, CORS, routing ------------------------------------------------------------------


async def test_root_answers_welcome_in_plain_text(v1: V1Client) -> None:
    reply = await raw_request(v1, "GET", "/")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == "Welcome to milvus"


ROUTED_PATHS = [
    "/",
    "/state",
    "/devices",
    "/config/advanced",
    "/config/gpu_resources",
    "/collections",
    "/collections/{name}",
    "/collections/{name}/indexes",
    "/collections/{name}/partitions",
    "/collections/{name}/segments",
    "/collections/{name}/segments/1583727470444700000/ids",
    "/collections/{name}/segments/1583727470444700000/vectors",
    "/collections/{name}/vectors",
    "/system/version",
    "/system/task",
]


@pytest.mark.parametrize("path", ROUTED_PATHS)
async def test_options_on_every_routed_path_is_204_with_cors(v1: V1Client, path: str) -> None:
    # OPTIONS does not check that the collection exists: the name is made up.
    reply = await raw_request(v1, "OPTIONS", path.format(name="test_collection_never_created"))
    assert reply.status == 204
    assert reply.text == ""
    assert_cors(reply)


async def test_every_kind_of_response_carries_the_cors_headers(v1: V1Client, name: str) -> None:
    create = orjson.dumps({"collection_name": name, "dimension": DIM})
    for method, path, body, status in [
        ("GET", "/state", None, 200),
        ("POST", "/collections", create, 201),
        ("GET", f"/collections/{name}/indexes", None, 200),
        ("GET", "/collections/never_created_here", None, 404),
        ("POST", "/collections", b"{", 400),
        ("DELETE", f"/collections/{name}", None, 204),
    ]:
        reply = await raw_request(v1, method, path, body)
        assert reply.status == status, (method, path, reply.text)
        assert_cors(reply)


@pytest.mark.parametrize(("method", "path"), [
    ("PATCH", "/collections"),
    ("DELETE", "/state"),
    ("PUT", "/devices"),
    ("POST", "/collections/{name}/segments"),
    ("DELETE", "/config/advanced"),
])
async def test_unsupported_method_on_a_known_path_is_404_or_405(
    v1: V1Client, name: str, method: str, path: str
) -> None:
    reply = await raw_request(v1, method, path.format(name=name))
    assert reply.status in (404, 405), reply.text


# -- §3.1: /state, /devices, /config, /system --------------------------------------------------------


async def test_state_example(v1: V1Client) -> None:
    reply = await raw_request(v1, "GET", "/state")
    assert reply.status == 200
    assert orjson.loads(reply.text) == {"message": "Success", "code": 0}


async def test_devices_example_on_a_cpu_cluster(v1: V1Client) -> None:
    status, devices = await v1.request("GET", "/devices")
    assert status == 200
    assert set(devices) == {"cpu", "gpus"}
    assert set(devices["cpu"]) == {"memory"} and is_int(devices["cpu"]["memory"]) and devices["cpu"]["memory"] > 0
    assert devices["gpus"] == {}, "a CPU build reports no GPU"


async def test_get_advanced_config_example(v1: V1Client) -> None:
    status, config = await v1.request("GET", "/config/advanced")
    assert status == 200
    # gpu_search_threshold is shown by GPU builds only.
    assert set(config) == {"cpu_cache_capacity", "cache_insert_data", "use_blas_threshold"}
    assert is_int(config["cpu_cache_capacity"]) and is_int(config["use_blas_threshold"])
    assert isinstance(config["cache_insert_data"], bool)
    assert config == DEFAULT_ADVANCED


async def test_put_advanced_config_example(v1: V1Client, restore_settings: None) -> None:
    body = {"cpu_cache_capacity": 4, "cache_insert_data": False, "use_blas_threshold": 1100,
            "gpu_search_threshold": 1000}
    await expect(v1, "PUT", "/config/advanced", 200, OK, body)
    await expect(v1, "GET", "/config/advanced", 200, DEFAULT_ADVANCED)


@pytest.mark.parametrize(("body", "code"), [
    (b"{", 36),
    ({"cache_insert_data": None}, 34),
    ({"use_blas_threshold": None}, 34),
    ({"gpu_search_threshold": None}, 34),
    ({"cpu_cache_capacity": "4"}, (35, 36)),
    (b"[4]", (35, 36)),
])
async def test_put_advanced_config_rejects_bad_bodies_and_changes_nothing(
    v1: V1Client, restore_settings: None, body: Any, code: int | tuple[int, ...]
) -> None:
    await expect(v1, "PUT", "/config/advanced", 200, OK, {"use_blas_threshold": 99})
    await expect_error(v1, "PUT", "/config/advanced", 400, code, body)
    await expect(v1, "GET", "/config/advanced", 200, {**DEFAULT_ADVANCED, "use_blas_threshold": 99})


async def test_get_gpu_resources_example_reports_disabled_without_gpus(v1: V1Client) -> None:
    status, gpu = await v1.request("GET", "/config/gpu_resources")
    assert status == 200
    assert set(gpu) == {"enable", "cache_capacity", "search_resources", "build_index_resources"}
    assert gpu["enable"] is False
    assert is_int(gpu["cache_capacity"])
    for key in ("search_resources", "build_index_resources"):
        assert all(re.fullmatch(r"GPU[0-9]+", device) for device in gpu[key]), gpu


async def test_put_gpu_resources_example(v1: V1Client, restore_settings: None) -> None:
    body = {"enable": True, "cache_capacity": 1, "search_resources": ["GPU0"], "build_index_resources": ["GPU0"]}
    await expect(v1, "PUT", "/config/gpu_resources", 200, OK, body)
    status, gpu = await v1.request("GET", "/config/gpu_resources")
    assert (status, gpu) == (200, {**body, "enable": False}), "no index node has a GPU"


@pytest.mark.parametrize(("body", "code"), [
    ({"enable": True, "cache_capacity": None}, 34),
    ({"cache_capacity": 1}, 34),
    ({"enable": "yes", "cache_capacity": 1}, (35, 36)),
    ({"enable": True, "cache_capacity": 1, "search_resources": "GPU0"}, (35, 36)),
    ({"enable": True, "cache_capacity": 1, "no_such_setting": 1}, 36),
    (b"[]", (35, 36)),
])
async def test_put_gpu_resources_rejects_bad_bodies_and_changes_nothing(
    v1: V1Client, restore_settings: None, body: Any, code: int | tuple[int, ...]
) -> None:
    before = await v1.request("GET", "/config/gpu_resources")
    await expect_error(v1, "PUT", "/config/gpu_resources", 400, code, body)
    assert await v1.request("GET", "/config/gpu_resources") == before


async def test_system_version_example(v1: V1Client) -> None:
    status, reply = await v1.request("GET", "/system/version")
    assert status == 200
    assert set(reply) == {"code", "message", "reply"}
    assert (reply["code"], reply["message"]) == (0, "OK")
    assert isinstance(reply["reply"], str) and re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", reply["reply"])


async def test_put_system_config_sets_values(v1: V1Client, restore_settings: None) -> None:
    """Not in the document, but served by Milvus: `{section: {key: value}}`."""
    status, reply = await v1.request("PUT", "/system/config", {"cache_config": {"cpu_cache_capacity": 3}})
    assert status == 200, reply
    assert set(reply) == {"code", "message", "restart_required"}
    assert reply["code"] == 0 and isinstance(reply["message"], str)
    assert isinstance(reply["restart_required"], bool)
    await expect(v1, "GET", "/config/advanced", 200, {**DEFAULT_ADVANCED, "cpu_cache_capacity": 3})


async def test_put_system_config_rejects_a_body_that_is_not_an_object(v1: V1Client, restore_settings: None) -> None:
    await expect_error(v1, "PUT", "/system/config", 400, 35, [1, 2])


async def test_put_system_config_sets_several_sections_and_reads_string_values(
    v1: V1Client, restore_settings: None
) -> None:
    body = {"cache_config": {"cache_insert_data": "true"}, "engine_config": {"use_blas_threshold": "77"}}
    status, reply = await v1.request("PUT", "/system/config", body)
    assert status == 200 and reply["code"] == 0, reply
    assert reply["message"].count("successfully;") == 2
    await expect(v1, "GET", "/config/advanced", 200,
                 {**DEFAULT_ADVANCED, "cache_insert_data": True, "use_blas_threshold": 77})
    status, document = await v1.request("GET", "/system/config")
    assert document["engine_config"]["use_blas_threshold"] == 77


@pytest.mark.parametrize("body", [
    {"cache_config": {"cpu_cache_capacity": 2}, "engine_config": {"no_such_key": 1}},
    {"cache_config": {"cpu_cache_capacity": 2, "cache_insert_data": "perhaps"}},
    {"cache_config": {"cpu_cache_capacity": 2}, "no_such_section": {"x": 1}},
])
async def test_put_system_config_checks_every_setting_before_changing_any(
    v1: V1Client, restore_settings: None, body: dict[str, Any]
) -> None:
    await expect_error(v1, "PUT", "/system/config", 400, 5, body)
    await expect(v1, "GET", "/config/advanced", 200, DEFAULT_ADVANCED)


async def test_flush_example(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 1, "L2", index_file_size=10)
    await insert_rows(v1, name, DOC_VECTORS)
    await expect(v1, "PUT", "/system/task", 200, TASK_OK, {"flush": {"collection_names": [name]}})
    assert (await v1.info(name))["count"] == 4


async def test_flush_with_an_empty_list_flushes_every_collection(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await insert_rows(v1, name, GOOD * 2)
    await expect(v1, "PUT", "/system/task", 200, TASK_OK, {"flush": {"collection_names": []}})
    await insert_rows(v1, name, GOOD)  # the flush sealed the first segment: this row opens another
    await v1.flush(name)
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert sorted(s["row_count"] for s in segments) == [1, 2]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"flush": {"collection_names": "test_collection"}}, 400, 34),
    ({"flush": {"collection_names": ["bad-name"]}}, 400, 9),
    ({"load": {}}, 400, 34),
    ({"load": {"collection_name": "never_created_here"}}, 400, 4),
    ({"load": {"collection_name": "bad-name"}}, 400, 9),
])
async def test_system_task_errors(v1: V1Client, body: Any, status: int, code: int) -> None:
    await expect_error(v1, "PUT", "/system/task", status, code, body)


async def test_load_example(v1: V1Client, doc_collection: DocCollection) -> None:
    await expect(v1, "PUT", "/system/task", 200, TASK_OK, {"load": {"collection_name": doc_collection.name}})


# -- §3.2: /collections ---------------------------------------------------------------------------


async def test_create_collection_example(v1: V1Client, name: str) -> None:
    body = {"collection_name": name, "dimension": 1, "index_file_size": 10, "metric_type": "L2"}
    await expect(v1, "POST", "/collections", 201, OK, body)
    assert_info(await v1.info(name), name, 1, 10, "L2", count=0)


async def test_create_collection_defaults_to_l2_and_1024_mb(v1: V1Client, name: str) -> None:
    await expect(v1, "POST", "/collections", 201, OK, {"collection_name": name, "dimension": 8})
    assert_info(await v1.info(name), name, 8, 1024, "L2", count=0)


@pytest.mark.parametrize("metric", ["L2", "IP", "HAMMING", "JACCARD", "TANIMOTO", "SUBSTRUCTURE", "SUPERSTRUCTURE"])
async def test_create_collection_accepts_every_metric(v1: V1Client, name: str, metric: str) -> None:
    await expect(v1, "POST", "/collections", 201, OK, {"collection_name": name, "dimension": 16, "metric_type": metric})
    assert (await v1.info(name))["metric_type"] == metric


@pytest.mark.parametrize(("prefix", "length", "dimension", "index_file_size"), [
    ("_", 255, 1, 1),        # 255 characters, starting with an underscore
    ("Z9_", 20, 32768, 4096),
])
async def test_create_collection_accepts_the_limits(
    v1: V1Client, prefix: str, length: int, dimension: int, index_file_size: int
) -> None:
    name = prefix + uuid.uuid4().hex[:12].rjust(length - len(prefix), "a")
    assert len(name) == length
    body = {"collection_name": name, "dimension": dimension, "index_file_size": index_file_size}
    await expect(v1, "POST", "/collections", 201, OK, body)
    assert_info(await v1.info(name), name, dimension, index_file_size, "L2", count=0)
    status, _ = await v1.request("DELETE", f"/collections/{name}")
    assert status == 204


@pytest.mark.parametrize(("body", "code"), [
    ({"collection_name": None, "dimension": 4}, 34),
    ({"collection_name": "x"}, 34),
    ({"collection_name": 17, "dimension": 4}, (35, 36)),
    ({"collection_name": "x", "dimension": 4, "metric_type": 2}, (35, 36)),
    ({"collection_name": "x", "dimension": 4, "index_file_size": "big"}, (35, 36)),
    ({"collection_name": "x", "dimension": 16, "unknown_field": 1}, (35, 36)),  # the DTO mapper refuses unknown fields
    ({"collection_name": "x", "dimension": 12, "metric_type": "TANIMOTO"}, 7),
    ({"collection_name": "x", "dimension": -4}, 7),
])
async def test_create_collection_rejects_bad_bodies_and_creates_nothing(
    v1: V1Client, name: str, body: dict[str, Any], code: int | tuple[int, ...]
) -> None:
    if body.get("collection_name") == "x":
        body = {**body, "collection_name": name}
    total = await collection_total(v1)
    await expect_error(v1, "POST", "/collections", 400, code, body)
    await expect_error(v1, "GET", f"/collections/{name}", 404, 4)
    assert await collection_total(v1) == total


async def test_create_collection_rejects_a_body_that_is_not_an_object(v1: V1Client) -> None:
    total = await collection_total(v1)
    await expect_error(v1, "POST", "/collections", 400, (35, 36), b'["test_collection", 1]')
    assert await collection_total(v1) == total


async def test_list_collections_example(v1: V1Client, doc_collection: DocCollection) -> None:
    status, listing = await v1.request("GET", "/collections?offset=0&page_size=1")
    assert status == 200
    assert set(listing) == {"collections", "count"}
    assert is_int(listing["count"]) and listing["count"] >= 1
    assert len(listing["collections"]) == 1
    for info in listing["collections"]:
        assert set(info) == INFO_KEYS and isinstance(info["index_params"], str)


async def test_list_collections_shows_each_collection_as_its_info(v1: V1Client, doc_collection: DocCollection) -> None:
    status, listing = await v1.request("GET", "/collections?all_required=true")
    assert status == 200
    mine = [c for c in listing["collections"] if c["collection_name"] == doc_collection.name]
    assert len(mine) == 1
    assert_info(mine[0], doc_collection.name, 1, 10, "L2", count=4)
    assert mine[0] == await v1.info(doc_collection.name)


async def test_list_collections_paging(v1: V1Client) -> None:
    for _ in range(11):  # more than one default page in any case
        await v1.create_collection(unique(), DIM)
    total = await collection_total(v1)
    assert total >= 11

    async def page(query: str) -> list[str]:
        status, listing = await v1.request("GET", f"/collections{query}")
        assert status == 200 and listing["count"] == total, listing
        return [c["collection_name"] for c in listing["collections"]]

    assert await page("?page_size=0") == []
    everything = await page(f"?offset=0&page_size={total}")
    assert len(set(everything)) == total
    assert len(await page("")) == 10, "page_size defaults to 10"
    assert len(await page("?offset=3")) == min(10, total - 3)
    assert len(await page(f"?offset={total - 4}")) == 4
    assert len(await page(f"?offset={total - 2}&page_size=5")) == 2
    assert await page(f"?offset={total}") == []
    assert await page(f"?offset={total + 100}&page_size=3") == []
    assert set(await page("?offset=2&page_size=3")) <= set(everything)
    assert len(await page("?offset=5&page_size=1&all_required=true")) == total, "all_required ignores paging"


@pytest.mark.parametrize("query", ["offset=+1", "page_size=1e3", "offset=0x10", "page_size=-0", "offset=%201"])
async def test_list_collections_rejects_paging_that_is_not_all_digits(v1: V1Client, query: str) -> None:
    await expect_error(v1, "GET", f"/collections?{query}", 400, 37)


# -- §3.3: /collections/{name} -----------------------------------------------------------------------


async def test_get_collection_example(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 1, "L2", index_file_size=10)
    status, info = await v1.request("GET", f"/collections/{name}")
    assert status == 200
    assert info == {"collection_name": name, "dimension": 1, "index_file_size": 10, "metric_type": "L2",
                    "count": 0, "index": "FLAT", "index_params": "{}"}


async def test_collection_count_is_the_flushed_rows(v1: V1Client, doc_collection: DocCollection) -> None:
    assert_info(await v1.info(doc_collection.name), doc_collection.name, 1, 10, "L2", count=4)


async def test_get_collection_stat_example(v1: V1Client, doc_collection: DocCollection) -> None:
    status, stat = await v1.request("GET", f"/collections/{doc_collection.name}?info=stat")
    assert status == 200
    assert set(stat) == {"row_count", "partitions"}
    assert stat["row_count"] == 4
    [partition] = stat["partitions"]
    assert set(partition) == {"tag", "row_count", "segments"}
    assert (partition["tag"], partition["row_count"]) == ("_default", 4)
    for segment in partition["segments"]:
        assert_stat_segment(segment)
        assert segment["index_name"] == "IDMAP" and segment["data_size"] > 0
    assert sum(s["row_count"] for s in partition["segments"]) == 4


async def test_stat_lists_default_first_and_empty_partitions_without_segments(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "empty_one"})
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "filled"})
    await insert_rows(v1, name, GOOD * 2, partition_tag="filled")
    await v1.flush(name)
    stat = await v1.stat(name)
    assert [(p["tag"], p["row_count"]) for p in stat["partitions"]] == [
        ("_default", 0), ("empty_one", 0), ("filled", 2)
    ]
    assert stat["partitions"][0]["segments"] in ([], None)
    assert stat["partitions"][1]["segments"] in ([], None)
    assert [s["row_count"] for s in stat["partitions"][2]["segments"]] == [2]
    assert stat["row_count"] == 2


@pytest.mark.parametrize("query", ["?info=", "?info=other", "?info=STAT"])
async def test_info_other_than_stat_is_the_plain_info(v1: V1Client, doc_collection: DocCollection, query: str) -> None:
    status, info = await v1.request("GET", f"/collections/{doc_collection.name}{query}")
    assert status == 200
    assert_info(info, doc_collection.name, 1, 10, "L2", count=4)


async def test_index_params_in_info_is_a_json_string_after_an_ivf_index(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await create_index(v1, name, "IVFFLAT", {"nlist": 64})
    info = await v1.info(name)
    assert info["index"] == "IVFFLAT"
    assert isinstance(info["index_params"], str) and orjson.loads(info["index_params"]) == {"nlist": 64}


async def test_binary_collections_report_rest_index_names(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 64, "JACCARD")
    await create_index(v1, name, "IVFFLAT", {"nlist": 16})
    assert (await v1.info(name))["index"] == "IVFFLAT"
    await expect(v1, "GET", f"/collections/{name}/indexes", 200, {"index_type": "IVFFLAT", "params": {"nlist": 16}})


async def test_drop_collection_example(v1: V1Client, doc_collection: DocCollection) -> None:
    total = await collection_total(v1)
    reply = await raw_request(v1, "DELETE", f"/collections/{doc_collection.name}")
    assert (reply.status, reply.text) == (204, "")
    await expect_error(v1, "GET", f"/collections/{doc_collection.name}", 404, 4)
    assert await collection_total(v1) == total - 1


INVALID_NAMES = ["1starts_with_digit", "bad-name", "x" * 256]
ROUTES_UNDER_A_NAME = [
    ("GET", "?info=stat", None),
    ("GET", "/indexes", None),
    ("POST", "/indexes", {"index_type": "FLAT", "params": {}}),
    ("DELETE", "/indexes", None),
    ("GET", "/partitions", None),
    ("POST", "/partitions", {"partition_tag": "t"}),
    ("DELETE", "/partitions", {"partition_tag": "t"}),
    ("GET", "/segments", None),
    ("GET", "/segments/1583727470444700000/ids", None),
    ("GET", "/segments/1583727470444700000/vectors", None),
    ("PUT", "/vectors", {"delete": {"ids": ["1"]}}),
]


@pytest.mark.parametrize("bad_name", INVALID_NAMES, ids=["digit", "dash", "too_long"])
@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES_UNDER_A_NAME,
                         ids=[f"{m} {s}" for m, s, _ in ROUTES_UNDER_A_NAME])
async def test_invalid_collection_name_is_400_code_9_on_every_route(
    v1: V1Client, bad_name: str, method: str, suffix: str, body: Any
) -> None:
    await expect_error(v1, method, f"/collections/{bad_name}{suffix}", 400, 9, body)


@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES_UNDER_A_NAME,
                         ids=[f"{m} {s}" for m, s, _ in ROUTES_UNDER_A_NAME])
async def test_missing_collection_is_404_code_4_on_every_route(
    v1: V1Client, method: str, suffix: str, body: Any
) -> None:
    await expect_error(v1, method, f"/collections/never_created_here{suffix}", 404, 4, body)


# -- §3.4: /indexes ---------------------------------------------------------------------------------


async def test_get_index_example(v1: V1Client, doc_collection: DocCollection) -> None:
    status, index = await v1.request("GET", f"/collections/{doc_collection.name}/indexes")
    assert (status, index) == (200, {"index_type": "FLAT", "params": {}})


async def test_create_index_example_keeps_small_segments_brute_force(
    v1: V1Client, doc_collection: DocCollection
) -> None:
    name = doc_collection.name
    body = {"index_type": "IVFFLAT", "params": {"nlist": 4096}}
    await expect(v1, "POST", f"/collections/{name}/indexes", 201, OK, body)
    await expect(v1, "GET", f"/collections/{name}/indexes", 200, {"index_type": "IVFFLAT", "params": {"nlist": 4096}})
    assert_info(await v1.info(name), name, 1, 10, "L2", "IVFFLAT", {"nlist": 4096}, count=4)
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert [s["index_name"] for s in segments] == ["IDMAP"], "segments under 4096 rows are not indexed"
    reply = await search(v1, name, {"topk": 2, "vectors": [[0.1]], "params": {"nprobe": 16}})
    assert [(h["id"], h["distance"]) for h in reply["results"][0]] == [
        (doc_collection.ids[0], "0.000000"), (doc_collection.ids[1], "0.010000")
    ]


async def test_drop_index_example(v1: V1Client, doc_collection: DocCollection) -> None:
    name = doc_collection.name
    await create_index(v1, name, "IVFFLAT", {"nlist": 4096})
    reply = await raw_request(v1, "DELETE", f"/collections/{name}/indexes")
    assert (reply.status, reply.text) == (204, "")
    await expect(v1, "GET", f"/collections/{name}/indexes", 200, {"index_type": "FLAT", "params": {}})
    assert_info(await v1.info(name), name, 1, 10, "L2", "FLAT", {}, count=4)


async def test_drop_index_without_an_index_is_204(v1: V1Client, small_collection: str) -> None:
    reply = await raw_request(v1, "DELETE", f"/collections/{small_collection}/indexes")
    assert (reply.status, reply.text) == (204, "")


async def test_creating_an_index_replaces_the_previous_one(v1: V1Client, small_collection: str) -> None:
    await create_index(v1, small_collection, "IVFFLAT", {"nlist": 32})
    await create_index(v1, small_collection, "HNSW", {"M": 16, "efConstruction": 100})
    await expect(v1, "GET", f"/collections/{small_collection}/indexes", 200,
                 {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 100}})


@pytest.mark.parametrize(("index_type", "params"), [
    ("IVFFLAT", {"nlist": 1}),
    ("IVFFLAT", {"nlist": 65536}),
    ("IVFSQ8", {"nlist": 16}),
    ("IVFPQ", {"nlist": 16, "m": 2}),
    ("HNSW", {"M": 4, "efConstruction": 8}),
    ("HNSW", {"M": 64, "efConstruction": 512}),
    ("ANNOY", {"n_trees": 1}),
    ("ANNOY", {"n_trees": 1024}),
    ("RNSG", {"search_length": 10, "out_degree": 5, "candidate_pool_size": 50, "knng": 5}),
    ("RNSG", {"search_length": 300, "out_degree": 300, "candidate_pool_size": 1000, "knng": 300}),
])
async def test_create_index_accepts_the_parameter_limits(
    v1: V1Client, small_collection: str, index_type: str, params: dict[str, int]
) -> None:
    await create_index(v1, small_collection, index_type, params)
    status, index = await v1.request("GET", f"/collections/{small_collection}/indexes")
    assert (status, index) == (200, {"index_type": index_type, "params": params})


RNSG = {"search_length": 40, "out_degree": 30, "candidate_pool_size": 100, "knng": 50}
INDEX_ERRORS = [
    ({"index_type": "IVFPQ", "params": {"nlist": 16}}, 5),
    ({"index_type": "IVFPQ", "params": {"nlist": 16, "m": -1}}, 5),
    ({"index_type": "IVFSQ8", "params": {"nlist": 0}}, 5),
    ({"index_type": "IVFSQ8", "params": {}}, 5),
    ({"index_type": "HNSW", "params": {"M": 16}}, 5),
    ({"index_type": "HNSW", "params": {"M": 65, "efConstruction": 100}}, 5),
    ({"index_type": "HNSW", "params": {"M": 16, "efConstruction": 7}}, 5),
    ({"index_type": "ANNOY", "params": {"n_trees": 0}}, 5),
    ({"index_type": "ANNOY", "params": {}}, 5),
    ({"index_type": "RNSG", "params": {**RNSG, "search_length": 9}}, 5),
    ({"index_type": "RNSG", "params": {**RNSG, "out_degree": 301}}, 5),
    ({"index_type": "RNSG", "params": {**RNSG, "candidate_pool_size": 1001}}, 5),
    ({"index_type": "RNSG", "params": {**RNSG, "knng": 4}}, 5),
    ({"index_type": "ivfflat", "params": {"nlist": 16}}, 8),
    ({"index_type": 5, "params": {}}, (35, 36)),
    ({"index_type": "IVFFLAT", "params": [16]}, (35, 36)),
    (b"[]", (35, 36)),
    (b"", (34, 36)),
]


@pytest.mark.parametrize(("body", "code"), INDEX_ERRORS)
async def test_create_index_rejects_bad_input_and_keeps_the_current_index(
    v1: V1Client, small_collection: str, body: Any, code: int | tuple[int, ...]
) -> None:
    await create_index(v1, small_collection, "IVFFLAT", {"nlist": 64})
    await expect_error(v1, "POST", f"/collections/{small_collection}/indexes", 400, code, body)
    await expect(v1, "GET", f"/collections/{small_collection}/indexes", 200,
                 {"index_type": "IVFFLAT", "params": {"nlist": 64}})
    assert (await v1.info(small_collection))["index"] == "IVFFLAT"


async def test_binary_collection_refuses_index_types_other_than_flat_and_ivfflat(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 64, "TANIMOTO")
    for index_type, params in [("IVFSQ8", {"nlist": 16}), ("ANNOY", {"n_trees": 8}), ("IVFPQ", {"nlist": 16, "m": 2})]:
        body = {"index_type": index_type, "params": params}
        await expect_error(v1, "POST", f"/collections/{name}/indexes", 400, 8, body)
    await expect(v1, "GET", f"/collections/{name}/indexes", 200, {"index_type": "FLAT", "params": {}})


@pytest.mark.parametrize(("index_type", "build", "good", "bad"), [
    ("IVFFLAT", {"nlist": 16}, [{"nprobe": 1}, {"nprobe": 65536}], [{}, {"nprobe": 0}, {"nprobe": 65537}]),
    ("IVFSQ8", {"nlist": 16}, [{"nprobe": 16}], [{}, {"nprobe": -1}]),
    ("IVFPQ", {"nlist": 16, "m": 2}, [{"nprobe": 16}], [{}]),
    ("HNSW", {"M": 16, "efConstruction": 64}, [{"ef": 3}, {"ef": 32768}], [{"ef": 2}]),
    ("ANNOY", {"n_trees": 8}, [{"search_k": -1}, {"search_k": 100}], [{}]),
    ("FLAT", {}, [{}, {"nprobe": 16}, {"anything": "goes"}], []),
])
async def test_search_params_are_validated_against_the_current_index(
    v1: V1Client, small_collection: str, index_type: str, build: dict[str, int],
    good: list[dict[str, Any]], bad: list[dict[str, Any]],
) -> None:
    await create_index(v1, small_collection, index_type, build)
    for params in good:
        reply = await search(v1, small_collection, {"topk": 3, "vectors": GOOD, "params": params})
        assert len(reply["results"][0]) == 3, params
    for params in bad:
        await expect_error(v1, "PUT", f"/collections/{small_collection}/vectors", 400, 5,
                           {"search": {"topk": 3, "vectors": GOOD, "params": params}})


# -- §3.5: /partitions ------------------------------------------------------------------------------


async def test_list_partitions_example(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    for tag in ("test_tag", "test_2", "test_3"):
        await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": tag})
    await expect(v1, "GET", f"/collections/{name}/partitions?offset=0&page_size=3", 200, {
        "partitions": [{"partition_tag": "_default"}, {"partition_tag": "test_tag"}, {"partition_tag": "test_2"}],
        "count": 4,
    })


async def test_list_partitions_page_size_defaults_to_10(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    for i in range(11):
        await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": f"p{i}"})
    status, listing = await v1.request("GET", f"/collections/{name}/partitions")
    assert status == 200 and listing["count"] == 12
    assert [p["partition_tag"] for p in listing["partitions"]] == ["_default"] + [f"p{i}" for i in range(9)]


async def test_create_partition_example(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "test"})
    assert await partition_tags(v1, name) == ["_default", "test"]


async def test_partition_tag_of_255_characters_is_accepted(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "t" * 255})
    assert await partition_tags(v1, name) == ["_default", "t" * 255]


PARTITION_CREATE_ERRORS = [
    ({}, 34),
    ({"partition_tag": None}, 34),
    ({"partition_tag": "_default"}, 1),
    ({"partition_tag": ""}, 1),
    ({"partition_tag": "   "}, 1),
    ({"partition_tag": "x" * 256}, 1),
    ({"partition_tag": "existing"}, 1),
    ({"partition_tag": " existing "}, 1),
    ({"partition_tag": 7}, (35, 36)),
    ({"partition_tag": "new_one", "unknown_field": 1}, (35, 36)),  # the DTO mapper refuses unknown fields
    (b'{"partition_tag": ', 36),
    (b"[]", (35, 36)),
]


@pytest.mark.parametrize(("body", "code"), PARTITION_CREATE_ERRORS)
async def test_create_partition_rejects_bad_input_and_creates_nothing(
    v1: V1Client, name: str, body: Any, code: int | tuple[int, ...]
) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "existing"})
    await expect_error(v1, "POST", f"/collections/{name}/partitions", 400, code, body)
    assert await partition_tags(v1, name) == ["_default", "existing"]


async def test_drop_partition_example(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "tags_01"})
    body = orjson.dumps({"partition_tag": "tags_01"})
    reply = await raw_request(v1, "DELETE", f"/collections/{name}/partitions", body)
    assert (reply.status, reply.text) == (204, "")
    assert await partition_tags(v1, name) == ["_default"]


PARTITION_DROP_ERRORS = [
    (b'{"partition_tag": ', 400, 36),
    (b"", 400, 36),
    ({"partition_tag": None}, 400, 36),
    ({"partition_tag": ["kept"]}, 400, 36),
    ({"partition_tag": "_default"}, 400, 9),
    ({"partition_tag": "never_created"}, 404, 4),
]


@pytest.mark.parametrize(("body", "status", "code"), PARTITION_DROP_ERRORS)
async def test_drop_partition_rejects_bad_input_and_drops_nothing(
    v1: V1Client, name: str, body: Any, status: int, code: int
) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "kept"})
    await insert_rows(v1, name, GOOD * 2, partition_tag="kept")
    await insert_rows(v1, name, GOOD)
    await expect_error(v1, "DELETE", f"/collections/{name}/partitions", status, code, body)
    assert await partition_tags(v1, name) == ["_default", "kept"]
    assert await flushed_count(v1, name) == 3


@pytest.mark.parametrize("route", ["partitions", "segments"])
@pytest.mark.parametrize("query", ["offset=-1", "page_size=x", "offset=1.0"])
async def test_partition_and_segment_listings_reject_bad_paging(
    v1: V1Client, small_collection: str, route: str, query: str
) -> None:
    await expect_error(v1, "GET", f"/collections/{small_collection}/{route}?{query}", 400, 37)


# -- §3.6 and §3.7: segments --------------------------------------------------------------------------


async def test_list_segments_example(v1: V1Client, doc_collection: DocCollection) -> None:
    status, listing = await v1.request("GET", f"/collections/{doc_collection.name}/segments?offset=0&page_size=1")
    assert status == 200
    assert set(listing) == {"segments", "count", "code", "message"}
    assert (listing["code"], listing["message"], listing["count"]) == (0, "OK", 1)
    [segment] = listing["segments"]
    assert set(segment) == STAT_SEGMENT_KEYS | {"partition_tag"}
    assert_stat_segment({k: v for k, v in segment.items() if k != "partition_tag"})
    assert (segment["partition_tag"], segment["row_count"], segment["index_name"]) == ("_default", 4, "IDMAP")


async def test_segments_are_the_stat_segments_flattened(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "other"})
    for _ in range(6):  # each flush seals a segment
        await insert_rows(v1, name, GOOD)
        await insert_rows(v1, name, GOOD, partition_tag="other")
        await v1.flush(name)
    stat = await v1.stat(name)
    expected = [{**s, "partition_tag": p["tag"]} for p in stat["partitions"] for s in (p["segments"] or [])]
    assert len(expected) == 12
    status, listing = await v1.request("GET", f"/collections/{name}/segments")
    assert status == 200 and listing["count"] == 12
    assert listing["segments"] == expected[:10], "page_size defaults to 10"
    status, listing = await v1.request("GET", f"/collections/{name}/segments?offset=10&page_size=10")
    assert listing["segments"] == expected[10:]
    status, listing = await v1.request("GET", f"/collections/{name}/segments?partition_tag=other&page_size=100")
    assert listing["count"] == 6 and listing["segments"] == [s for s in expected if s["partition_tag"] == "other"]


async def test_segment_vectors_example(v1: V1Client, doc_collection: DocCollection) -> None:
    segment = (await v1.stat(doc_collection.name))["partitions"][0]["segments"][0]["name"]
    path = f"/collections/{doc_collection.name}/segments/{segment}/vectors?offset=0&page_size=1"
    status, rows = await v1.request("GET", path)
    assert status == 200
    assert set(rows) == {"vectors", "count", "code", "message"}
    assert (rows["code"], rows["message"], rows["count"]) == (0, "OK", 4)
    [row] = rows["vectors"]
    assert set(row) == {"vector", "id"}
    assert is_id(row["id"]) and row["id"] in doc_collection.ids
    assert row["vector"] == pytest.approx(DOC_VECTORS[doc_collection.ids.index(row["id"])])


async def test_segment_ids_example(v1: V1Client, doc_collection: DocCollection) -> None:
    segment = (await v1.stat(doc_collection.name))["partitions"][0]["segments"][0]["name"]
    path = f"/collections/{doc_collection.name}/segments/{segment}/ids?offset=0&page_size=1"
    status, ids = await v1.request("GET", path)
    assert status == 200
    assert set(ids) == {"ids", "count"}
    assert ids["count"] == 4 and len(ids["ids"]) == 1 and ids["ids"][0] in doc_collection.ids


async def test_segment_ids_page_size_defaults_to_10(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    ids = await insert_rows(v1, name, GOOD * 11)
    await v1.flush(name)
    segment = (await v1.stat(name))["partitions"][0]["segments"][0]["name"]
    status, listing = await v1.request("GET", f"/collections/{name}/segments/{segment}/ids")
    assert (status, listing["count"]) == (200, 11)
    assert listing["ids"] == ids[:10], "storage order is insert order here"
    status, rows = await v1.request("GET", f"/collections/{name}/segments/{segment}/vectors")
    assert [r["id"] for r in rows["vectors"]] == ids[:10]


@pytest.mark.parametrize("info", ["ids", "vectors"])
async def test_segment_of_another_collection_is_404_code_4(
    v1: V1Client, doc_collection: DocCollection, info: str
) -> None:
    foreign = (await v1.stat(doc_collection.name))["partitions"][0]["segments"][0]["name"]
    other = unique()
    await v1.create_collection(other, DIM)
    await insert_rows(v1, other, GOOD)
    await v1.flush(other)
    await expect_error(v1, "GET", f"/collections/{other}/segments/{foreign}/{info}", 404, 4)


# -- §3.8: vectors ------------------------------------------------------------------------------------


async def test_insert_example(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 1, "L2", index_file_size=10)
    status, reply = await v1.request("POST", f"/collections/{name}/vectors", {"vectors": DOC_VECTORS})
    assert status == 201
    assert set(reply) == {"ids"}
    assert len(reply["ids"]) == 4 and all(is_id(i) for i in reply["ids"]) and len(set(reply["ids"])) == 4
    assert await flushed_count(v1, name) == 4


async def test_insert_returns_user_ids_in_input_order_and_accepts_duplicates(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    ids = ["9", "3", "9", "9223372036854775807"]
    status, reply = await v1.request("POST", f"/collections/{name}/vectors", {"vectors": GOOD * 4, "ids": ids})
    assert (status, reply) == (201, {"ids": ids})
    assert await flushed_count(v1, name) == 4


@pytest.mark.parametrize("tag", ["", "_default", None])
async def test_insert_with_empty_or_default_tag_goes_to_the_default_partition(
    v1: V1Client, name: str, tag: str | None
) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "other"})
    extra = {} if tag is None else {"partition_tag": tag}
    await insert_rows(v1, name, GOOD * 2, **extra)
    await v1.flush(name)
    stat = await v1.stat(name)
    assert [(p["tag"], p["row_count"]) for p in stat["partitions"]] == [("_default", 2), ("other", 0)]


@pytest.mark.parametrize(("body", "code"), [
    ({"vectors": None}, 34),
    ({"vectors": "0.1,0.2,0.3,0.4"}, 35),
    ({"vectors": GOOD, "partition_tag": 5}, (35, 36)),
    (b"[[0.1, 0.2, 0.3, 0.4]]", (35, 36)),
])
async def test_insert_rejects_wrongly_typed_bodies_and_inserts_nothing(
    v1: V1Client, small_collection: str, body: Any, code: int | tuple[int, ...]
) -> None:
    await expect_error(v1, "POST", f"/collections/{small_collection}/vectors", 400, code, body)
    assert await flushed_count(v1, small_collection) == 3


async def test_insert_over_256_mb_of_vector_data_is_code_11(v1: V1Client, name: str) -> None:
    dim = 32768
    await v1.create_collection(name, dim)
    row = b"[" + b"0," * (dim - 1) + b"0]"
    rows = 256 * 1024 * 1024 // (dim * 4) + 1  # one vector more than 256 MB of float32
    body = b'{"vectors":[' + b",".join([row] * rows) + b"]}"
    await expect_error(v1, "POST", f"/collections/{name}/vectors", 400, 11, body)
    assert await flushed_count(v1, name) == 0


async def test_search_example(v1: V1Client, doc_collection: DocCollection) -> None:
    status, reply = await v1.request(
        "PUT", f"/collections/{doc_collection.name}/vectors",
        {"search": {"topk": 2, "vectors": [[0.1]], "params": {"nprobe": 16}}},
    )
    assert status == 200
    assert set(reply) == {"num", "results", "result"}
    assert reply["num"] == 1
    assert reply["results"] == reply["result"]
    [hits] = reply["results"]
    assert all(set(hit) == {"id", "distance"} and is_id(hit["id"]) and is_distance(hit["distance"]) for hit in hits)
    assert hits == [
        {"id": doc_collection.ids[0], "distance": "0.000000"},
        {"id": doc_collection.ids[1], "distance": "0.010000"},  # L2 is squared
    ]


async def test_search_hits_are_not_padded_beyond_the_rows(v1: V1Client, doc_collection: DocCollection) -> None:
    reply = await search(v1, doc_collection.name, {"topk": 10, "vectors": [[0.4], [0.0]], "params": {}})
    assert reply["num"] == 2
    assert [[h["id"] for h in hits] for hits in reply["results"]] == [doc_collection.ids[::-1], doc_collection.ids]
    assert [h["distance"] for h in reply["results"][1]] == ["0.010000", "0.040000", "0.090000", "0.160000"]


async def test_search_with_inner_product_sorts_descending(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 1, "IP")
    ids = await insert_rows(v1, name, DOC_VECTORS)
    reply = await search(v1, name, {"topk": 4, "vectors": [[1.0]], "params": {}})
    assert [(h["id"], h["distance"]) for h in reply["results"][0]] == [
        (ids[3], "0.400000"), (ids[2], "0.300000"), (ids[1], "0.200000"), (ids[0], "0.100000")
    ]


async def test_search_by_ids_instead_of_vectors(v1: V1Client, doc_collection: DocCollection) -> None:
    """Not in the document, but served by Milvus: `ids` in place of `vectors` searches with stored rows."""
    reply = await search(v1, doc_collection.name, {"topk": 2, "ids": [doc_collection.ids[3]], "params": {}})
    assert reply["num"] == 1
    assert reply["results"][0] == [
        {"id": doc_collection.ids[3], "distance": "0.000000"},
        {"id": doc_collection.ids[2], "distance": "0.010000"},
    ]


async def test_search_by_ids_refuses_ids_the_collection_does_not_hold(
    v1: V1Client, doc_collection: DocCollection
) -> None:
    reply = await expect_error(v1, "PUT", f"/collections/{doc_collection.name}/vectors", 400, 12,
                               {"search": {"topk": 2, "ids": [doc_collection.ids[0], "12345"], "params": {}}})
    assert "12345" in reply["message"]


async def test_search_with_file_ids_ignores_partition_tags(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 1)
    await expect(v1, "POST", f"/collections/{name}/partitions", 201, OK, {"partition_tag": "other"})
    default_ids = await insert_rows(v1, name, DOC_VECTORS[:2])
    await insert_rows(v1, name, DOC_VECTORS[2:], partition_tag="other")
    await v1.flush(name)
    [segment] = (await v1.stat(name))["partitions"][0]["segments"]
    reply = await search(v1, name, {"topk": 4, "vectors": [[0.4]], "params": {},
                                    "file_ids": [segment["name"]], "partition_tags": ["other"]})
    assert [h["id"] for h in reply["results"][0]] == default_ids[::-1]


async def test_vectors_put_with_delete_and_search_deletes(v1: V1Client, doc_collection: DocCollection) -> None:
    gone = doc_collection.ids[0]
    body = {"search": {"topk": 1, "vectors": [[0.1]], "params": {}}, "delete": {"ids": [gone]}}
    await expect(v1, "PUT", f"/collections/{doc_collection.name}/vectors", 200, TASK_OK, body)
    assert await flushed_count(v1, doc_collection.name) == 3


async def test_binary_collections_take_and_return_byte_values(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 16, "HAMMING")  # 16 bits: two bytes a vector
    ids = await insert_rows(v1, name, [[0, 0], [1, 255], [255, 255]])
    reply = await search(v1, name, {"topk": 3, "vectors": [[1, 254]], "params": {}})
    hits = reply["results"][0]
    assert hits[0] == {"id": ids[1], "distance": "1.000000"}
    assert sorted((h["distance"], h["id"]) for h in hits[1:]) == sorted([("8.000000", ids[0]), ("8.000000", ids[2])])
    status, got = await v1.request("GET", f"/collections/{name}/vectors?ids={ids[1]},{ids[1]}")
    assert (status, got["vectors"]) == (200, [{"vector": [1, 255], "id": ids[1]}] * 2)
    await expect_error(v1, "POST", f"/collections/{name}/vectors", 400, 7, {"vectors": [[1, 2, 3]]})


async def test_search_on_a_collection_without_rows(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    reply = await search(v1, name, {"topk": 2, "vectors": GOOD, "params": {}})
    assert reply == {"num": 0, "results": [], "result": []}


async def test_search_topk_float_is_truncated_and_16384_is_allowed(v1: V1Client, doc_collection: DocCollection) -> None:
    reply = await search(v1, doc_collection.name, {"topk": 2.9, "vectors": [[0.1]], "params": {}})
    assert len(reply["results"][0]) == 2
    reply = await search(v1, doc_collection.name, {"topk": 16384, "vectors": [[0.1]], "params": {}})
    assert len(reply["results"][0]) == 4


@pytest.mark.parametrize(("search_body", "code"), [
    pytest.param({"topk": 1, "params": {}, "vectors": GOOD, "partition_tags": {}}, 36, id="partition_tags_object"),
    pytest.param({"topk": 1, "params": {}, "vectors": GOOD, "file_ids": "1"}, 36, id="file_ids_string"),
    pytest.param({"topk": 1, "params": {}, "vectors": GOOD, "file_ids": {}}, 36, id="file_ids_object"),
    pytest.param({"topk": 1, "params": {}, "vectors": "x"}, 35, id="vectors_not_array"),
    pytest.param({"topk": 1, "params": {}, "vectors": [0.1, 0.2, 0.3, 0.4]}, 35, id="vector_not_array"),
    pytest.param({"topk": 1, "params": {}, "vectors": GOOD, "partition_tags": ["  "]}, 1, id="blank_tag"),
    pytest.param({"topk": 1, "params": {}, "vectors": []}, 11, id="no_vectors"),
])
async def test_search_rejects_bad_fields(
    v1: V1Client, small_collection: str, search_body: dict[str, Any], code: int
) -> None:
    await expect_error(v1, "PUT", f"/collections/{small_collection}/vectors", 400, code, {"search": search_body})


@pytest.mark.parametrize(("search_body", "status", "code"), [
    ({"params": {}, "vectors": GOOD}, 400, 34),                              # topk before existence
    ({"topk": 1, "vectors": GOOD}, 400, 34),                                 # params before existence
    ({"topk": 1, "params": {}, "vectors": GOOD, "partition_tags": "t"}, 400, 36),
    ({"topk": 1, "params": {}, "vectors": GOOD, "file_ids": "1"}, 400, 36),
    ({"topk": 1, "params": {}}, 404, 4),                                     # existence before vectors
])
async def test_search_checks_the_body_before_the_collection_exists(
    v1: V1Client, search_body: dict[str, Any], status: int, code: int
) -> None:
    await expect_error(v1, "PUT", "/collections/never_created_here/vectors", status, code, {"search": search_body})


@pytest.fixture
async def hnsw_collection(v1: V1Client, small_collection: str) -> str:
    """Search parameters are checked against the index: HNSW needs `ef` in topk..32768."""
    await create_index(v1, small_collection, "HNSW", {"M": 16, "efConstruction": 64})
    return small_collection


@pytest.mark.parametrize(("search_body", "code"), [
    pytest.param({"topk": 0, "params": {"ef": 64}, "vectors": [[0.1]]}, 10, id="topk_before_dimension"),
    pytest.param({"topk": 0, "params": {"ef": 64}, "vectors": [[0.1, 0.2, 0.3, "x"]]}, 36,
                 id="element_types_before_topk"),
    pytest.param({"topk": 16385, "params": {}, "vectors": GOOD, "partition_tags": ["none"]}, 10,
                 id="topk_before_tags"),
    pytest.param({"topk": 1, "params": {}, "vectors": GOOD, "partition_tags": ["none"]}, 1,
                 id="tags_before_search_params"),
    pytest.param({"topk": 1, "params": {}, "vectors": [[0.1]]}, 5, id="search_params_before_dimension"),
    pytest.param({"topk": 1, "params": {"ef": 64}, "vectors": [[0.1]]}, 7, id="dimension_last"),
])
async def test_search_check_order(v1: V1Client, hnsw_collection: str, search_body: dict[str, Any], code: int) -> None:
    await expect_error(v1, "PUT", f"/collections/{hnsw_collection}/vectors", 400, code, {"search": search_body})


async def test_delete_example(v1: V1Client, doc_collection: DocCollection) -> None:
    name, gone = doc_collection.name, doc_collection.ids[0]
    status, reply = await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": [gone]}})
    assert (status, reply) == (200, TASK_OK)  # the document's "success" is wrong
    assert await flushed_count(v1, name) == 3
    status, got = await v1.request("GET", f"/collections/{name}/vectors?ids={gone}")
    assert got["vectors"] == [{"vector": [], "id": gone}]
    reply = await search(v1, name, {"topk": 4, "vectors": [[0.1]], "params": {}})
    assert gone not in [h["id"] for h in reply["results"][0]]


async def test_delete_ignores_unknown_ids(v1: V1Client, doc_collection: DocCollection) -> None:
    await expect(v1, "PUT", f"/collections/{doc_collection.name}/vectors", 200, TASK_OK,
                 {"delete": {"ids": ["1", "9223372036854775807"]}})
    assert await flushed_count(v1, doc_collection.name) == 4


async def test_get_vectors_by_id_example(v1: V1Client, doc_collection: DocCollection) -> None:
    first, second = doc_collection.ids[:2]
    status, reply = await v1.request("GET", f"/collections/{doc_collection.name}/vectors?ids={first},{second}")
    assert status == 200, "the document's 201 is wrong"
    assert set(reply) == {"code", "message", "vectors"}
    assert (reply["code"], reply["message"]) == (0, "OK")
    assert [set(v) for v in reply["vectors"]] == [{"id", "vector"}] * 2
    assert [v["id"] for v in reply["vectors"]] == [first, second]
    assert [v["vector"] for v in reply["vectors"]] == [pytest.approx([0.1]), pytest.approx([0.2])]


async def test_get_vectors_from_a_collection_without_rows_is_200(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await expect(v1, "GET", f"/collections/{name}/vectors?ids=1,2", 200,
                 {"code": 0, "message": "OK", "vectors": [{"vector": [], "id": "1"}, {"vector": [], "id": "2"}]})


async def test_get_vectors_takes_up_to_1000_ids(v1: V1Client, doc_collection: DocCollection) -> None:
    wanted = [str(i) for i in range(1, 1000)] + [doc_collection.ids[3]]
    status, reply = await v1.request("GET", f"/collections/{doc_collection.name}/vectors?ids=" + ",".join(wanted))
    assert status == 200 and [v["id"] for v in reply["vectors"]] == wanted
    assert reply["vectors"][-1]["vector"] == pytest.approx([0.4])
