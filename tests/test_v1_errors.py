"""Bad input gets the documented status and error code, and changes nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.cluster import V1Client

DIM = 4
GOOD = [[0.1, 0.2, 0.3, 0.4]]


async def expect_error(
    v1: V1Client, method: str, path: str, status: int, code: int, body: Any = None, raw: bytes | None = None
) -> dict[str, Any]:
    got_status, reply = await v1.request(method, path, body, raw=raw)
    assert (got_status, reply.get("code") if isinstance(reply, dict) else reply) == (status, code), reply
    assert isinstance(reply["message"], str) and reply["message"]
    return reply


@pytest.fixture
async def collection(v1: V1Client, name: str) -> str:
    await v1.create_collection(name, DIM)
    await v1.insert(name, np.array(GOOD * 3, dtype=np.float32))
    await v1.flush(name)
    return name


async def assert_unchanged(v1: V1Client, name: str, rows: int = 3) -> None:
    await v1.flush(name)
    assert (await v1.info(name))["count"] == rows


CREATE_CASES = [
    ({"dimension": 4}, 34),
    ({"collection_name": "x", "dimension": None}, 34),
    ({"collection_name": "x", "dimension": "four"}, 36),
    ({"collection_name": "x", "dimension": 4, "metric_type": "COSINE_ISH"}, 23),
    ({"collection_name": "x", "dimension": 4, "metric_type": ""}, 23),  # no metric is an unknown one
    ({"collection_name": "1starts_with_digit", "dimension": 4}, 9),
    ({"collection_name": "has-dash", "dimension": 4}, 9),
    ({"collection_name": "a" * 256, "dimension": 4}, 9),
    ({"collection_name": "x", "dimension": 0}, 7),
    ({"collection_name": "x", "dimension": 32769}, 7),
    ({"collection_name": "x", "dimension": 12, "metric_type": "HAMMING"}, 7),
    ({"collection_name": "x", "dimension": 4, "index_file_size": 0}, 5),
    ({"collection_name": "x", "dimension": 4, "index_file_size": 4097}, 5),
]


@pytest.mark.parametrize(("body", "code"), CREATE_CASES)
async def test_create_collection_rejects_bad_input(v1: V1Client, name: str, body: dict[str, Any], code: int) -> None:
    if body.get("collection_name") == "x":
        body = {**body, "collection_name": name}
    await expect_error(v1, "POST", "/collections", 400, code, body)
    status, _ = await v1.request("GET", f"/collections/{name}")
    assert status == 404, "a rejected create must not create anything"


async def test_create_collection_rejects_malformed_json_and_duplicates(v1: V1Client, collection: str) -> None:
    await expect_error(v1, "POST", "/collections", 400, 36, raw=b'{"collection_name": ')
    await expect_error(v1, "POST", "/collections", 400, 34, raw=b"")
    await expect_error(v1, "POST", "/collections", 400, 9, {"collection_name": collection, "dimension": 8})
    assert (await v1.info(collection))["dimension"] == DIM


async def test_unknown_and_invalid_collections(v1: V1Client) -> None:
    for method, suffix, body in [
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/vectors", {"vectors": GOOD}),
        ("PUT", "/vectors", {"search": {"topk": 1, "params": {}, "vectors": GOOD}}),
        ("GET", "/vectors?ids=1", None),
    ]:
        await expect_error(v1, method, f"/collections/no_such_collection{suffix}", 404, 4, body)
        await expect_error(v1, method, f"/collections/9invalid{suffix}", 400, 9, body)
    # Outside /collections a missing collection is 400, code 4.
    await expect_error(v1, "PUT", "/system/task", 400, 4, {"flush": {"collection_names": ["no_such_collection"]}})


INSERT_CASES = [
    (b"", 34),
    (b"{not json", 36),
    (b'{"ids": ["1"]}', 34),
    (b'{"vectors": []}', 11),
    (b'{"vectors": [[0.1, 0.2, 0.3]]}', 7),
    (b'{"vectors": [[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3]]}', 7),
    (b'{"vectors": [[0.1, 0.2, 0.3, "x"]]}', 36),
    (b'{"vectors": [[1.0, 0.2, 0.3, true]]}', 36),
    (b'{"vectors": [[1, 0, 1, false]]}', 36),
    (b'{"vectors": [0.1, 0.2, 0.3, 0.4]}', 35),
    (b'{"vectors": [[0.1, 0.2, 0.3, 0.4]], "ids": "1"}', 35),
    (b'{"vectors": [[0.1, 0.2, 0.3, 0.4]], "ids": ["one"]}', 35),
    (b'{"vectors": [[0.1, 0.2, 0.3, 0.4]], "ids": ["1", "2"]}', 12),
    (b'{"vectors": [[0.1, 0.2, 0.3, 0.4]], "partition_tag": "no_such_tag"}', 4),
    (b'{"vectors": [[1e39, 0.2, 0.3, 0.4]]}', 11),
]


@pytest.mark.parametrize(("raw", "code"), INSERT_CASES)
async def test_insert_rejects_bad_input(v1: V1Client, collection: str, raw: bytes, code: int) -> None:
    status = 404 if code == 4 else 400
    await expect_error(v1, "POST", f"/collections/{collection}/vectors", status, code, raw=raw)
    await assert_unchanged(v1, collection)


async def test_ids_are_all_or_none_per_collection(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await v1.insert(name, np.array(GOOD, dtype=np.float32))  # auto ids from now on
    await expect_error(v1, "POST", f"/collections/{name}/vectors", 400, 12, {"vectors": GOOD, "ids": ["7"]})
    await assert_unchanged(v1, name, rows=1)


async def test_user_id_collection_requires_ids(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, DIM)
    await v1.insert(name, np.array(GOOD, dtype=np.float32), ids=[7])
    await expect_error(v1, "POST", f"/collections/{name}/vectors", 400, 12, {"vectors": GOOD})
    await assert_unchanged(v1, name, rows=1)


SEARCH_CASES = [
    ({"params": {}, "vectors": GOOD}, 34),
    ({"topk": 1, "vectors": GOOD}, 34),
    ({"topk": "one", "params": {}, "vectors": GOOD}, 36),
    ({"topk": 1, "params": {}, "vectors": GOOD, "partition_tags": "_default"}, 36),
    ({"topk": 1, "params": {}}, 34),
    ({"topk": 0, "params": {}, "vectors": GOOD}, 10),
    ({"topk": 16385, "params": {}, "vectors": GOOD}, 10),
    ({"topk": 1, "params": {}, "vectors": [[0.1]]}, 7),
    ({"topk": 1, "params": {}, "vectors": [["a", 1, 2, 3]]}, 36),
    ({"topk": 1, "params": {}, "vectors": [[0.5, 1.0, 0.0, True]]}, 36),
    ({"topk": 1, "params": {}, "vectors": GOOD, "partition_tags": ["nothing_matches"]}, 1),
    ({"topk": 1, "params": {}, "vectors": GOOD, "file_ids": ["not-a-number"]}, 5),
    ({"topk": 1, "params": {}, "vectors": GOOD, "file_ids": ["12345"]}, 5),
]


@pytest.mark.parametrize(("search", "code"), SEARCH_CASES)
async def test_search_rejects_bad_input(v1: V1Client, collection: str, search: dict[str, Any], code: int) -> None:
    await expect_error(v1, "PUT", f"/collections/{collection}/vectors", 400, code, {"search": search})


async def test_vectors_put_and_delete_bad_bodies(v1: V1Client, collection: str) -> None:
    path = f"/collections/{collection}/vectors"
    await expect_error(v1, "PUT", path, 400, 36, raw=b"[1, 2")
    await expect_error(v1, "PUT", path, 400, 35, {"neither": {}})
    await expect_error(v1, "PUT", path, 400, 34, {"delete": {}})
    await expect_error(v1, "PUT", path, 400, 34, {"delete": {"ids": "1"}})
    await expect_error(v1, "PUT", path, 400, 36, {"delete": {"ids": [1]}})
    await expect_error(v1, "PUT", path, 400, 35, {"delete": {"ids": ["1x"]}})
    await assert_unchanged(v1, collection)


async def test_get_by_id_bad_queries(v1: V1Client, collection: str) -> None:
    path = f"/collections/{collection}/vectors"
    await expect_error(v1, "GET", path, 400, 33)
    await expect_error(v1, "GET", path + "?ids=", 400, 5)
    await expect_error(v1, "GET", path + "?ids=1,x", 400, 5)
    await expect_error(v1, "GET", path + "?ids=" + ",".join(["1"] * 1001), 400, 5)


async def test_paging_and_system_errors(v1: V1Client) -> None:
    for query in ("offset=-1", "page_size=1.5", "offset=abc", "page_size=99999999999999999999"):
        await expect_error(v1, "GET", f"/collections?{query}", 400, 37)
    await expect_error(v1, "PUT", "/system/task", 400, 34, raw=b"")
    await expect_error(v1, "PUT", "/system/task", 400, 36, raw=b"{")
    await expect_error(v1, "PUT", "/system/task", 400, 34, {"flush": {}})
    await expect_error(v1, "PUT", "/system/task", 400, 36, {"flush": {"collection_names": [1]}})
    await expect_error(v1, "PUT", "/system/task", 400, 35, {"other": {}})
    await expect_error(v1, "PUT", "/system/reboot", 400, 32, {})
    status, reply = await v1.request("GET", "/system/whatever")
    assert (status, reply) == (200, {"code": 0, "message": "OK", "reply": "Unknown command"})


async def test_unknown_path_is_404_and_options_answers_cors(v1: V1Client) -> None:
    status, _ = await v1.request("GET", "/no/such/path")
    assert status == 404
    async with v1.http.options(v1.base + "/collections/anything/vectors") as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    async with v1.http.get(v1.base + "/state") as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert await response.json() == {"message": "Success", "code": 0}
