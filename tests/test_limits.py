"""Request limits (docs/security.md): each refused with the surface's own error before any work
is done, and nothing changed by the refused request."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import numpy as np
import orjson
import pytest

from quiver.standalone import LOOPBACK
from tests.cluster import TestCluster, V1Client, V2Client

MIB = 1024 * 1024


async def declare_body(port: int, method: str, path: str, length: int, token: str | None = None) -> tuple[int, bytes]:
    """Sends only the headers of a request whose body would be `length` bytes; (status, body)
    of the reply, which must come without the body ever being sent."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: quiver\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        status = int(head.split(b" ", 2)[1])
        size = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        return status, await asyncio.wait_for(reader.readexactly(size), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("surface", "method", "path", "length", "expected"),
    [
        ("v1", "POST", "/collections/any/vectors", 300 * MIB, {"code": 11}),
        ("v1", "PUT", "/collections/any/vectors", 65 * MIB, {"code": 11}),
        ("v1", "POST", "/collections", 2 * MIB, {"code": 11}),
        ("v2", "POST", "/v2/vectordb/entities/insert", 65 * MIB, {"code": 1100}),
        ("v2", "POST", "/v2/vectordb/collections/describe", 2 * MIB, {"code": 1100}),
        ("managed", "POST", "/api/v1/retrieval/retrieve", 2 * MIB, {}),
    ],
)
async def test_a_body_over_its_limit_is_refused_from_its_declared_length(
    cluster: TestCluster, surface: str, method: str, path: str, length: int, expected: dict[str, int]
) -> None:
    port = cluster.v1_port if surface == "v1" else cluster.http_port
    status, body = await declare_body(port, method, path, length, token=None if surface == "v1" else "root:Milvus")
    assert status == 413
    reply = orjson.loads(body)
    assert {k: reply[k] for k in expected} == expected
    assert reply.get("message") or reply.get("detail")


async def test_a_body_that_lies_about_nothing_but_is_too_long_stops_at_the_limit(v2: V2Client) -> None:
    """Chunked, with no length declared: read up to the limit, then refused."""

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"collectionName": "'
        for _ in range(3):
            yield b"x" * MIB
        yield b'"}'

    async with v2.http.post(f"{v2.base}/collections/describe", data=chunks(),
                            headers={"Authorization": f"Bearer {v2.token}"}) as response:
        reply = await response.json(content_type=None)
    assert (response.status, reply["code"]) == (413, 1100)


async def test_v1_search_limits(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 4)
    await v1.insert(name, np.eye(4, dtype=np.float32))
    too_many = np.zeros((16385, 4), dtype=np.float32)
    status, reply = await v1.request("PUT", f"/collections/{name}/vectors",
                                     {"search": {"topk": 1, "vectors": too_many.tolist(), "params": {}}})
    assert status == 400 and "16384" in reply["message"]
    status, reply = await v1.request("PUT", f"/collections/{name}/vectors",
                                     {"search": {"topk": 16385, "vectors": [[1, 0, 0, 0]], "params": {}}})
    assert status == 400 and "topk" in reply["message"]


async def test_v1_dimension_and_name_limits(v1: V1Client) -> None:
    status, reply = await v1.request("POST", "/collections", {"collection_name": f"c_{uuid.uuid4().hex[:8]}",
                                                              "dimension": 32769, "metric_type": "L2"})
    assert status == 400 and "32768" in reply["message"]
    long_name = "c" * 256
    status, reply = await v1.request("POST", "/collections", {"collection_name": long_name, "dimension": 4})
    assert status == 400 and reply["message"]
    assert (await v1.request("GET", f"/collections/{long_name}"))[0] in (400, 404)


async def test_v2_limits_refuse_before_any_row_is_written(v2: V2Client, name: str) -> None:
    await v2.ok("collections/create", {"collectionName": name, "dimension": 2, "params": {"consistencyLevel": "Strong"}})
    rows = [{"id": i, "vector": [0.5, 0.5]} for i in range(100_001)]
    message = await v2.fails("entities/insert", {"collectionName": name, "data": rows}, 1804)
    assert "100000" in message
    await v2.fails("entities/search", {"collectionName": name, "data": [[0.0, 0.0]] * 16385}, 1100)
    await v2.fails("entities/search", {"collectionName": name, "data": [[0.0, 0.0]], "limit": 16385}, 1100)
    await v2.fails("entities/get", {"collectionName": name, "id": list(range(16385))}, 1100)
    deep = "not " * 65 + "id > 0"
    assert "nested deeper" in await v2.fails("entities/query", {"collectionName": name, "filter": deep}, 1100)
    long_text = "id > 0 or " + " or ".join(["id == 1"] * 8000)  # over 64 KiB of filter
    await v2.fails("entities/query", {"collectionName": name, "filter": long_text}, 1100)
    await v2.fails("collections/create", {"collectionName": "c" * 256, "dimension": 2}, 1100)
    await v2.fails("collections/create", {"collectionName": f"c_{uuid.uuid4().hex[:8]}", "dimension": 32769}, 1100)
    stats = await v2.ok("collections/get_stats", {"collectionName": name})
    assert stats == {"rowCount": 0}


async def test_managed_string_and_filter_limits(http: aiohttp.ClientSession, cluster: TestCluster) -> None:
    headers = {"Authorization": "Bearer root:Milvus"}
    base = cluster.http_url + "/api/v1"
    async with http.post(f"{base}/beta/directories", json={"name": "d" * 1025}, headers=headers) as response:
        assert response.status == 422
        detail = (await response.json())["detail"]
        assert detail[0]["loc"][-1] == "name"
    async with http.get(f"{base}/beta/directories", headers=headers) as response:
        assert "d" * 1025 not in await response.text()
    condition = {"operator": "==", "value": "v"}
    too_many_fields = {f"k{i}": condition for i in range(65)}
    too_many_values = {"k": {"operator": "in", "value": ["v"] * 1025}}
    for filters in (too_many_fields, too_many_values):
        body = {"index_id": str(uuid.uuid4()), "query": "q", "custom_filters": filters}
        async with http.post(f"{base}/retrieval/retrieve", json=body, headers=headers) as response:
            assert response.status == 422  # refused before the index is even looked up
    body = {"index_id": str(uuid.uuid4()), "query": "q" * 16385}
    async with http.post(f"{base}/retrieval/retrieve", json=body, headers=headers) as response:
        assert response.status == 422
