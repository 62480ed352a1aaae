"""REST v2: the spec pages verbatim, collections, partitions, aliases, indexes, credentials."""

from __future__ import annotations

import subprocess
from typing import Any

import numpy as np
import orjson
import pytest

from tests.cluster import TestCluster, V1Client, V2Client


def custom_schema(name: str, dim: int = 5) -> dict[str, Any]:
    """The collection the create-index page expects to exist: custom schema, not indexed."""
    return {
        "collectionName": name,
        "schema": {
            "autoId": False,
            "enabledDynamicField": False,
            "fields": [
                {"fieldName": "my_id", "dataType": "Int64", "isPrimary": True},
                {"fieldName": "my_vector", "dataType": "FloatVector", "elementTypeParams": {"dim": str(dim)}},
                {"fieldName": "my_varchar", "dataType": "VarChar", "elementTypeParams": {"max_length": 512}},
            ],
        },
    }


def spec_curl(cluster: TestCluster, path: str, data: str) -> dict[str, Any]:
    """Runs a spec page's curl command as written, only the host changed."""
    out = subprocess.run(
        ["curl", "--silent", "--location", "--request", "POST",
         f"{cluster.http_url}/v2/vectordb/{path}",
         "--header", "Authorization: Bearer root:Milvus",
         "--header", "Content-Type: application/json",
         "--data-raw", data],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return orjson.loads(out.stdout)


async def test_the_create_and_drop_index_pages_verbatim(v2: V2Client, cluster: TestCluster) -> None:
    await v2.post("collections/drop", {"collectionName": "custom_setup_not_indexed"})
    await v2.ok("collections/create", custom_schema("custom_setup_not_indexed"))
    assert await v2.ok("indexes/list", {"collectionName": "custom_setup_not_indexed"}) == []

    reply = spec_curl(cluster, "indexes/create", """{
    "collectionName": "custom_setup_not_indexed",
    "indexParams": [
        {
            "metricType": "L2",
            "fieldName": "my_vector",
            "indexName": "my_vector",
            "indexConfig": {
                "index_type": "IVF_FLAT",
                "nlist": "1024"
            }
        }
    ]
}""")
    assert reply == {"code": 0, "data": {}}
    (described,) = await v2.ok("indexes/describe", {"collectionName": "custom_setup_not_indexed", "indexName": "my_vector"})
    assert {k: described[k] for k in ("indexName", "fieldName", "indexType", "metricType", "indexState")} == {
        "indexName": "my_vector", "fieldName": "my_vector", "indexType": "IVF_FLAT",
        "metricType": "L2", "indexState": "Finished",
    }
    assert await v2.ok("indexes/list", {"collectionName": "custom_setup_not_indexed"}) == ["my_vector"]

    reply = spec_curl(cluster, "indexes/drop", """{
    "indexName": "my_vector",
    "collectionName": "custom_setup_not_indexed"
}""")
    assert reply == {"code": 0, "data": {}}
    assert await v2.ok("indexes/list", {"collectionName": "custom_setup_not_indexed"}) == []
    await v2.ok("collections/drop", {"collectionName": "custom_setup_not_indexed"})


async def test_quick_setup_defaults_and_describe(v2: V2Client, name: str) -> None:
    await v2.ok("collections/create", {"collectionName": name, "dimension": 8})
    described = await v2.ok("collections/describe", {"collectionName": name})
    assert described["collectionName"] == name and described["autoId"] is False
    assert described["enableDynamicField"] is True and described["load"] == "LoadStateLoaded"
    assert described["consistencyLevel"] == "Strong" and described["partitionsNum"] == 1
    assert [(f["name"], f["type"], f["primaryKey"]) for f in described["fields"]] == [
        ("id", "Int64", True), ("vector", "FloatVector", False)
    ]
    assert described["fields"][1]["params"] == [{"key": "dim", "value": "8"}]
    assert described["indexes"] == [{"fieldName": "vector", "indexName": "vector", "metricType": "COSINE"}]
    assert name in await v2.ok("collections/list")
    assert await v2.ok("collections/has", {"collectionName": name}) == {"has": True}
    assert await v2.ok("collections/has", {"collectionName": name + "_no"}) == {"has": False}
    assert await v2.ok("collections/get_load_state", {"collectionName": name}) == {
        "loadState": "LoadStateLoaded", "loadProgress": 100}
    # Creating it again with the same schema succeeds; drops of what is gone succeed too.
    await v2.ok("collections/create", {"collectionName": name, "dimension": 8})
    await v2.ok("collections/drop", {"collectionName": name})
    await v2.ok("collections/drop", {"collectionName": name})
    assert await v2.ok("collections/has", {"collectionName": name}) == {"has": False}


async def test_custom_schema_release_load_rename_and_stats(v2: V2Client, cluster: TestCluster, name: str) -> None:
    await v2.ok("collections/create", custom_schema(name, dim=4))
    assert await v2.ok("collections/get_load_state", {"collectionName": name}) == {"loadState": "LoadStateNotLoad"}
    rows = [{"my_id": i, "my_vector": [float(i)] * 4, "my_varchar": f"row {i}"} for i in range(10)]
    assert (await v2.ok("entities/insert", {"collectionName": name, "data": rows}))["insertCount"] == 10
    search = {"collectionName": name, "data": [[1.0] * 4], "limit": 3}
    await v2.fails("entities/search", search, 101)
    await v2.fails("entities/query", {"collectionName": name, "filter": "my_id > 0"}, 101)
    await v2.fails("collections/load", {"collectionName": name}, 700)  # no index yet
    await v2.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "my_vector", "indexType": "HNSW", "metricType": "L2", "params": {"M": 8, "efConstruction": 64}}]})
    await v2.ok("collections/load", {"collectionName": name})
    hits = await v2.ok("entities/search", search)
    assert [h["id"] for h in hits] == [1, 0, 2] or [h["id"] for h in hits] == [1, 2, 0]
    await v2.fails("indexes/drop", {"collectionName": name, "indexName": "my_vector"}, 65535)  # loaded
    await v2.ok("collections/release", {"collectionName": name})
    await v2.ok("indexes/drop", {"collectionName": name, "indexName": "my_vector"})

    renamed = name + "_renamed"
    await v2.ok("collections/rename", {"collectionName": name, "newCollectionName": renamed})
    await v2.fails("collections/describe", {"collectionName": name}, 100)
    await V1Client(v2.http, cluster.v1_url).flush(renamed)  # row counts are exact once flushed
    assert await v2.ok("collections/get_stats", {"collectionName": renamed}) == {"rowCount": 10}
    await v2.ok("collections/drop", {"collectionName": renamed})


CREATE_ERRORS = [
    ({"collectionName": "x"}, 1100),  # quick setup without dimension
    ({"collectionName": "x", "dimension": 4, "idType": "Float"}, 1100),
    ({"collectionName": "x", "dimension": 4, "params": {"consistencyLevel": "Sometimes"}}, 1100),
    ({"collectionName": "9bad", "dimension": 4}, 1100),
    ({"collectionName": "x", "schema": {"fields": [{"fieldName": "v", "dataType": "floatvector"}]}}, 1100),
    ({"collectionName": "x", "schema": {"fields": [
        {"fieldName": "k", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "v", "dataType": "FloatVector"}]}}, 1100),  # no dim
    ({"collectionName": "x", "schema": {"fields": [
        {"fieldName": "k", "dataType": "Int64"},
        {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}}]}}, 1100),  # no key
    ({"collectionName": "x", "schema": {"fields": [
        {"fieldName": "k", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "v", "dataType": "SparseFloatVector"}]}}, 1100),
    ({"dimension": 4}, 1802),
]


@pytest.mark.parametrize(("body", "code"), CREATE_ERRORS)
async def test_create_collection_errors(v2: V2Client, name: str, body: dict[str, Any], code: int) -> None:
    if body.get("collectionName") == "x":
        body = {**body, "collectionName": name}
    await v2.fails("collections/create", body, code)
    if "collectionName" in body:
        assert await v2.ok("collections/has", {"collectionName": body["collectionName"]}) == {"has": False}


async def test_envelope_errors(v2: V2Client, name: str) -> None:
    status, reply = await v2.post("collections/describe", b"")
    assert (status, reply["code"]) == (200, 1801)
    status, reply = await v2.post("collections/describe", b'{"collectionName": ')
    assert (status, reply["code"]) == (200, 1801)
    await v2.fails("collections/describe", {}, 1802)
    await v2.fails("collections/describe", {"collectionName": "no_such_collection"}, 100)
    await v2.fails("collections/list", {"dbName": "elsewhere"}, 800)
    status, reply = await v2.post("collections/list", {}, {"Request-Timeout": "soon"})
    assert reply["code"] == 1100
    # Keys match case-insensitively, like Milvus' Go decoder.
    await v2.ok("collections/create", {"COLLECTIONNAME": name, "Dimension": 4})
    assert await v2.ok("collections/has", {"collectionname": name}) == {"has": True}


async def test_credentials_are_required_and_checked(v2: V2Client, cluster: TestCluster, name: str) -> None:
    for token in (None, "root:wrong", "nobody:Milvus", "not-a-key"):
        other = V2Client(v2.http, cluster.http_url, token=token)
        status, reply = await other.post("collections/create", {"collectionName": name, "dimension": 4})
        assert (status, reply) == (401, {"code": 1800, "message": "user hasn't authenticated"})
    assert await v2.ok("collections/has", {"collectionName": name}) == {"has": False}, "nothing was touched"
    basic = {"Authorization": "Basic cm9vdDpNaWx2dXM="}  # root:Milvus
    assert await v2.ok("collections/has", {"collectionName": name}, **basic) == {"has": False}


async def test_partitions(v2: V2Client, name: str) -> None:
    await v2.ok("collections/create", {"collectionName": name, "dimension": 4, "metricType": "L2"})
    await v2.ok("partitions/create", {"collectionName": name, "partitionName": "p1"})
    await v2.fails("partitions/create", {"collectionName": name, "partitionName": "p1"}, 1100)
    await v2.fails("partitions/create", {"collectionName": name, "partitionName": "bad-name"}, 1100)
    assert await v2.ok("partitions/list", {"collectionName": name}) == ["_default", "p1"]
    assert await v2.ok("partitions/has", {"collectionName": name, "partitionName": "p1"}) == {"has": True}
    await v2.ok("entities/insert", {"collectionName": name, "partitionName": "p1",
                                    "data": [{"id": 1, "vector": [1, 0, 0, 0]}]})
    await v2.ok("entities/insert", {"collectionName": name, "data": [{"id": 2, "vector": [1, 0, 0, 0]}]})
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [[1, 0, 0, 0]], "partitionNames": ["p1"]})
    assert [h["id"] for h in hits] == [1]
    await v2.ok("partitions/load", {"collectionName": name, "partitionNames": ["p1"]})
    await v2.fails("partitions/load", {"collectionName": name, "partitionNames": ["nope"]}, 200)
    await v2.fails("partitions/drop", {"collectionName": name, "partitionName": "_default"}, 1100)
    await v2.ok("partitions/drop", {"collectionName": name, "partitionName": "p1"})
    assert await v2.ok("partitions/list", {"collectionName": name}) == ["_default"]


async def test_aliases(v2: V2Client, name: str) -> None:
    other = name + "_b"
    await v2.ok("collections/create", {"collectionName": name, "dimension": 4})
    await v2.ok("collections/create", {"collectionName": other, "dimension": 4})
    alias = name + "_alias"
    await v2.ok("aliases/create", {"collectionName": name, "aliasName": alias})
    await v2.fails("aliases/create", {"collectionName": name, "aliasName": alias}, 1602)
    await v2.fails("aliases/create", {"collectionName": name, "aliasName": other}, 1601)
    assert await v2.ok("aliases/describe", {"aliasName": alias}) == {
        "dbName": "default", "collectionName": name, "aliasName": alias}
    assert await v2.ok("aliases/list", {"collectionName": name}) == [alias]
    assert (await v2.ok("collections/describe", {"collectionName": name}))["aliases"] == [alias]
    await v2.ok("entities/insert", {"collectionName": alias, "data": [{"id": 5, "vector": [1, 2, 3, 4]}]})
    assert [r["id"] for r in await v2.ok("entities/get", {"collectionName": name, "id": 5})] == [5]
    await v2.fails("collections/drop", {"collectionName": name}, 1100)  # aliases first
    await v2.ok("aliases/alter", {"collectionName": other, "aliasName": alias})
    assert await v2.ok("entities/get", {"collectionName": alias, "id": 5}) == []
    await v2.ok("aliases/drop", {"aliasName": alias})
    await v2.fails("aliases/describe", {"aliasName": alias}, 1600)
    await v2.fails("aliases/drop", {"aliasName": alias}, 1600)


async def test_index_errors_and_scalar_indexes(v2: V2Client, name: str) -> None:
    await v2.ok("collections/create", custom_schema(name, dim=4))
    params = lambda **p: {"collectionName": name, "indexParams": [p]}  # noqa: E731
    await v2.fails("indexes/create", params(fieldName="nope", indexType="HNSW"), 1802)
    await v2.fails("indexes/create", params(fieldName="my_vector", indexType="BIN_FLAT", metricType="L2"), 1100)
    await v2.fails("indexes/create", params(fieldName="my_vector", indexType="HNSW", params={"M": 0}), 1100)
    await v2.ok("indexes/create", params(fieldName="my_vector", indexType="HNSW", metricType="L2", params={"M": "16"}))
    await v2.ok("indexes/create", params(fieldName="my_vector", indexType="HNSW", metricType="L2", params={"M": 16}))
    await v2.fails("indexes/create", params(fieldName="my_vector", indexType="IVF_FLAT", metricType="L2"), 65535)
    await v2.ok("indexes/create", params(fieldName="my_varchar", indexType="Trie", indexName="by_text"))
    await v2.fails("indexes/create", params(fieldName="my_id", indexType="HNSW"), 1100)
    assert sorted(await v2.ok("indexes/list", {"collectionName": name})) == ["by_text", "my_vector"]
    await v2.fails("indexes/describe", {"collectionName": name, "indexName": "nope"}, 700)
    await v2.ok("indexes/drop", {"collectionName": name, "indexName": "by_text"})
    assert await v2.ok("indexes/list", {"collectionName": name}) == ["my_vector"]


async def test_a_0x_collection_through_v2_and_back(v2: V2Client, cluster: TestCluster, name: str) -> None:
    v1 = V1Client(v2.http, cluster.v1_url)
    await v1.create_collection(name, 4, "IP")
    ids = await v1.insert(name, np.eye(4, dtype=np.float32))
    described = await v2.ok("collections/describe", {"collectionName": name})
    assert [(f["name"], f["type"]) for f in described["fields"]] == [("id", "Int64"), ("vector", "FloatVector")]
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [[0, 0, 1, 0]], "limit": 1,
                                           "searchParams": {"metricType": "IP"}})
    assert hits == [{"id": ids[2], "distance": 1.0}]
    assert described["autoId"] is True, "inserted without ids through 0.x: the cluster allocates them"
    inserted = await v2.ok("entities/insert", {"collectionName": name, "data": [{"vector": [0, 1, 1, 0]}]})
    (new_id,) = inserted["insertIds"]
    assert (await v1.search(name, np.array([[0, 1, 1, 0]], dtype=np.float32), 1))[0][0][0] == new_id
    # A VarChar-keyed collection is out of the 0.x model's reach: refused clearly.
    await v2.ok("collections/create", {"collectionName": name + "_s", "dimension": 4, "idType": "VarChar"})
    status, reply = await v1.request("PUT", f"/collections/{name}_s/vectors",
                                     {"search": {"topk": 1, "params": {}, "vectors": [[1, 0, 0, 0]]}})
    assert (status, reply["code"]) == (400, 5) and "VarChar" in reply["message"]
