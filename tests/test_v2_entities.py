"""REST v2 entities: rows with every field type, filters checked against Python, exact search."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.cluster import TestCluster, V1Client, V2Client
from tests.reference import assert_same_hits, binary_distances, float_distances, top_k

DIM = 8
ROWS = 1500
BRANDS = ["sony", "lg", "acme", None]
COLORS = ["red", "blue", "green"]


def rich_schema(name: str) -> dict[str, Any]:
    return {
        "collectionName": name,
        "schema": {
            "enableDynamicField": True,
            "fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
                {"fieldName": "age", "dataType": "Int32"},
                {"fieldName": "score", "dataType": "Double"},
                {"fieldName": "name", "dataType": "VarChar", "elementTypeParams": {"max_length": 32}},
                {"fieldName": "active", "dataType": "Bool"},
                {"fieldName": "meta", "dataType": "JSON"},
                {"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar",
                 "elementTypeParams": {"max_capacity": 4, "max_length": 8}},
            ],
        },
        "indexParams": [{"fieldName": "vector", "indexType": "FLAT", "metricType": "L2"}],
    }


def make_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for i in range(ROWS):
        meta: dict[str, Any] = {"price": int(rng.integers(0, 100))}
        brand = BRANDS[i % 4]
        if brand is not None:
            meta["brand"] = brand
        rows.append({
            "id": i,
            "vector": rng.standard_normal(DIM).round(4).tolist(),
            "age": int(rng.integers(0, 80)),
            "score": float(rng.random()),
            "name": f"user_{i}",
            "active": bool(i % 3 == 0),
            "meta": meta,
            "tags": [COLORS[j] for j in range(3) if rng.random() < 0.4][:4],
            "color": COLORS[i % 3],  # not in the schema: kept in the dynamic field
        })
    return rows


@pytest.fixture(scope="module")
async def rich(cluster: TestCluster, http: aiohttp.ClientSession) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    v2 = V2Client(http, cluster.http_url)
    name = "v2_rich_rows"
    await v2.post("collections/drop", {"collectionName": name})
    await v2.ok("collections/create", rich_schema(name))
    # Scalar indexes answer filters on flushed segments; growing ones are scanned.
    await v2.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "age", "indexType": "STL_SORT"}, {"fieldName": "name", "indexType": "Trie"}]})
    rows = make_rows(np.random.default_rng(51))
    for start in range(0, ROWS, 500):
        if start == 1000:
            await V1Client(http, cluster.v1_url).flush(name)  # 1000 rows flushed, 500 growing
        await v2.ok("entities/insert", {"collectionName": name, "data": rows[start : start + 500]})
    yield name, rows
    await v2.post("collections/drop", {"collectionName": name})


FILTERS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("age > 30", lambda r: r["age"] > 30),
    ("age >= 20 and age < 40", lambda r: 20 <= r["age"] < 40),
    ("10 < age < 20", lambda r: 10 < r["age"] < 20),
    ("score * 2 > 1.0", lambda r: r["score"] * 2 > 1.0),
    ("age % 7 == 0", lambda r: r["age"] % 7 == 0),
    ('name like "user_1%"', lambda r: r["name"].startswith("user_1")),
    ('name like "%9"', lambda r: r["name"].endswith("9")),
    ("active == true", lambda r: r["active"]),
    ("age in [1, 5, 7]", lambda r: r["age"] in (1, 5, 7)),
    ("age not in [1, 2, 3]", lambda r: r["age"] not in (1, 2, 3)),
    ("id in [3, 7, 11, 5000]", lambda r: r["id"] in (3, 7, 11)),
    ('meta["brand"] == "sony"', lambda r: r["meta"].get("brand") == "sony"),
    ('meta["price"] > 50', lambda r: r["meta"]["price"] > 50),
    ('array_contains(tags, "red")', lambda r: "red" in r["tags"]),
    ('array_contains_any(tags, ["red", "blue"])', lambda r: bool({"red", "blue"} & set(r["tags"]))),
    ("array_length(tags) == 2", lambda r: len(r["tags"]) == 2),
    ('color == "blue"', lambda r: r["color"] == "blue"),
    ('not (age > 50) or name like "%9"', lambda r: not r["age"] > 50 or r["name"].endswith("9")),
    ('(active == false and meta["price"] < 30) || color in ["red"]',
     lambda r: (not r["active"] and r["meta"]["price"] < 30) or r["color"] == "red"),
]


@pytest.mark.parametrize(("expression", "reference"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_query_and_filtered_search_match_python(
    v2: V2Client, rich: tuple[str, list[dict[str, Any]]], expression: str,
    reference: Callable[[dict[str, Any]], bool],
) -> None:
    name, rows = rich
    expected = [r for r in rows if reference(r)]
    found = await v2.ok("entities/query", {"collectionName": name, "filter": expression,
                                           "outputFields": ["id"], "limit": 16384})
    assert sorted(r["id"] for r in found) == [r["id"] for r in expected]
    assert await v2.ok("entities/query", {"collectionName": name, "filter": expression,
                                          "outputFields": ["count(*)"]}) == [{"count(*)": len(expected)}]

    query = np.random.default_rng(len(expression)).standard_normal(DIM).astype(np.float32)
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [query.tolist()],
                                           "filter": expression, "limit": 10})
    if not expected:
        assert hits == []
        return
    base = np.array([r["vector"] for r in expected], dtype=np.float32)
    want = top_k(float_distances(base, query[None], "L2"), np.array([r["id"] for r in expected]), 10)
    assert_same_hits([[(h["id"], h["distance"]) for h in hits]], want)


async def test_rows_come_back_with_every_field(v2: V2Client, rich: tuple[str, list[dict[str, Any]]]) -> None:
    name, rows = rich
    (row,) = await v2.ok("entities/get", {"collectionName": name, "id": 42})
    original = rows[42]
    assert set(row) == set(original)
    for key in ("id", "age", "name", "active", "meta", "tags", "color"):
        assert row[key] == original[key], key
    assert row["score"] == pytest.approx(original["score"])
    np.testing.assert_allclose(row["vector"], original["vector"], rtol=1e-6)

    picked = await v2.ok("entities/get", {"collectionName": name, "id": [7, 9, 123456],
                                          "outputFields": ["name", "color"]})
    assert sorted(picked, key=lambda r: r["id"]) == [
        {"id": 7, "name": "user_7", "color": rows[7]["color"]},
        {"id": 9, "name": "user_9", "color": rows[9]["color"]},
    ]
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [original["vector"]], "limit": 1,
                                           "outputFields": ["age", "meta"]})
    assert hits == [{"id": 42, "distance": pytest.approx(0.0, abs=1e-4), "age": original["age"], "meta": original["meta"]}]


async def test_query_pages_and_limits(v2: V2Client, rich: tuple[str, list[dict[str, Any]]]) -> None:
    name, _ = rich
    page = lambda offset: v2.ok("entities/query", {"collectionName": name, "filter": "age >= 0",  # noqa: E731
                                                   "outputFields": ["id"], "limit": 5, "offset": offset})
    first, second = await page(0), await page(5)
    assert [r["id"] for r in first] == [0, 1, 2, 3, 4] and [r["id"] for r in second] == [5, 6, 7, 8, 9]
    assert len(await v2.ok("entities/query", {"collectionName": name, "filter": ""})) == 100  # the default limit
    await v2.fails("entities/query", {"collectionName": name, "filter": "", "limit": 16384, "offset": 1}, 1100)
    await v2.fails("entities/query", {"collectionName": name, "filter": "age >"}, 1100)
    await v2.fails("entities/query", {"collectionName": name, "filter": 'age like "1%"', "outputFields": ["id"]}, 1100)
    assert await v2.ok("entities/query", {"collectionName": name, "filter": "nope == 1"}) == [], "a dynamic key"
    search = {"collectionName": name, "data": [[0.0] * DIM], "limit": 3}
    one, two = await v2.ok("entities/search", search), await v2.ok("entities/search", {**search, "offset": 3})
    both = await v2.ok("entities/search", {**search, "limit": 6})
    assert [h["id"] for h in one + two] == [h["id"] for h in both]


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
async def test_search_order_per_metric(v2: V2Client, name: str, metric: str) -> None:
    rng = np.random.default_rng(53)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    await v2.ok("collections/create", {"collectionName": name, "dimension": 16, "metricType": metric})
    await v2.ok("entities/insert", {"collectionName": name,
                                    "data": [{"id": i, "vector": v.tolist()} for i, v in enumerate(vectors)]})
    query = rng.standard_normal(16).astype(np.float32)
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [query.tolist()], "limit": 10,
                                           "searchParams": {"params": {"ef": 300}}})
    if metric == "COSINE":
        scores = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
    else:
        scores = float_distances(vectors, query[None], metric)[0]
    want = top_k(scores[None], np.arange(300), 10, descending=metric != "L2")
    assert_same_hits([[(h["id"], h["distance"]) for h in hits]], want)


async def test_upsert_delete_and_varchar_keys(v2: V2Client, cluster: TestCluster, name: str) -> None:
    await v2.ok("collections/create", {"collectionName": name, "dimension": 4, "idType": "VarChar",
                                       "params": {"max_length": 16}, "metricType": "L2"})
    rows = [{"id": f"k{i}", "vector": [float(i), 0, 0, 0], "n": i} for i in range(20)]
    inserted = await v2.ok("entities/insert", {"collectionName": name, "data": rows})
    assert inserted == {"insertCount": 20, "insertIds": [f"k{i}" for i in range(20)]}
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [[3.2, 0, 0, 0]], "limit": 2})
    assert [h["id"] for h in hits] == ["k3", "k4"]

    upserted = await v2.ok("entities/upsert", {"collectionName": name,
                                               "data": [{"id": "k3", "vector": [100, 0, 0, 0], "n": -3}]})
    assert upserted == {"upsertCount": 1, "upsertIds": ["k3"]}
    assert await v2.ok("entities/get", {"collectionName": name, "id": "k3", "outputFields": ["n"]}) == [{"id": "k3", "n": -3}]
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [[3.2, 0, 0, 0]], "limit": 2})
    assert [h["id"] for h in hits] == ["k4", "k2"], "the old row is gone"

    assert await v2.ok("entities/delete", {"collectionName": name, "filter": 'id in ["k1", "k2"] or n > 15'}) == {"deleteCount": 6}
    await V1Client(v2.http, cluster.v1_url).flush(name)
    assert await v2.ok("entities/query", {"collectionName": name, "filter": "", "outputFields": ["count(*)"]}) == [{"count(*)": 14}]
    assert await v2.ok("entities/get", {"collectionName": name, "id": ["k1", "k2", "k5"], "outputFields": ["n"]}) == [{"id": "k5", "n": 5}]
    await v2.fails("entities/get", {"collectionName": name, "id": [1]}, 1806)
    await v2.fails("entities/delete", {"collectionName": name}, 1802)


async def test_int64_keys_as_strings_and_autoid(v2: V2Client, name: str) -> None:
    await v2.ok("collections/create", {"collectionName": name, "dimension": 4, "autoID": True})
    as_strings = {"Accept-Type-Allow-Int64": "false"}
    inserted = await v2.ok("entities/insert", {"collectionName": name, "data": [{"vector": [1, 2, 3, 4]}]}, **as_strings)
    (key,) = inserted["insertIds"]
    assert isinstance(key, str) and key.isdigit()
    (hit,) = await v2.ok("entities/search", {"collectionName": name, "data": [[1, 2, 3, 4]], "limit": 1}, **as_strings)
    assert hit["id"] == key
    await v2.fails("entities/insert", {"collectionName": name, "data": [{"id": 5, "vector": [1, 2, 3, 4]}]}, 1804)


async def test_binary_vectors_travel_as_base64(v2: V2Client, name: str) -> None:
    rng = np.random.default_rng(57)
    codes = rng.integers(0, 256, (200, 4), dtype=np.uint8)
    schema = {"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                         {"fieldName": "bits", "dataType": "BinaryVector", "elementTypeParams": {"dim": 32}}]}
    await v2.ok("collections/create", {"collectionName": name, "schema": schema,
                                       "indexParams": [{"fieldName": "bits", "indexType": "BIN_FLAT", "metricType": "HAMMING"}]})
    await v2.ok("entities/insert", {"collectionName": name, "data": [
        {"id": i, "bits": base64.b64encode(c.tobytes()).decode()} for i, c in enumerate(codes)]})
    query = codes[17] ^ np.array([1, 0, 0, 0], dtype=np.uint8)
    hits = await v2.ok("entities/search", {"collectionName": name, "limit": 5,
                                           "data": [base64.b64encode(query.tobytes()).decode()]})
    want = top_k(binary_distances(codes, query[None], "HAMMING"), np.arange(200), 5)
    assert [(h["id"], h["distance"]) for h in hits] == want[0]
    (row,) = await v2.ok("entities/get", {"collectionName": name, "id": 17})
    assert base64.b64decode(row["bits"]) == codes[17].tobytes()


INSERT_ERRORS = [
    ([{"id": 1, "vector": [1.0] * 3}], 1804),
    ([{"id": 1}], 1804),
    ([{"id": 1, "vector": [1.0] * 4, "extra": 1}], 1804),  # no dynamic field here
    ([{"id": "one", "vector": [1.0] * 4, "label": "x"}], 1804),
    ([{"id": 1, "vector": [1.0] * 4, "label": "x" * 9}], 1804),
    ([{"id": 1, "vector": [1.0] * 4, "label": 7}], 1804),
    ([{"id": 1, "vector": "nope", "label": "x"}], 1804),
    ([], 1802),
]


@pytest.mark.parametrize(("data", "code"), INSERT_ERRORS)
async def test_insert_errors_change_nothing(v2: V2Client, cluster: TestCluster, name: str, data: Any, code: int) -> None:
    schema = {"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                         {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
                         {"fieldName": "label", "dataType": "VarChar", "elementTypeParams": {"max_length": 8}, "nullable": True}]}
    await v2.ok("collections/create", {"collectionName": name, "schema": schema,
                                       "indexParams": [{"fieldName": "vector", "indexType": "FLAT", "metricType": "L2"}]})
    await v2.fails("entities/insert", {"collectionName": name, "data": data}, code)
    assert await v2.ok("entities/query", {"collectionName": name, "filter": "", "outputFields": ["count(*)"]}) == [{"count(*)": 0}]
    await v2.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * 4}]})  # label is nullable
    await v2.fails("entities/search", {"collectionName": name, "data": [[1.0] * 3]}, 1801)
    await v2.fails("entities/search", {"collectionName": name, "data": [[1.0] * 4],
                                       "searchParams": {"metricType": "IP"}}, 1100)
    await v2.fails("entities/search", {"collectionName": name, "data": [[1.0] * 4],
                                       "searchParams": {"params": {"range_filter": 1}}}, 1801)


@pytest.mark.parametrize("passing", [1, 30, 600])
async def test_filtered_search_on_hnsw_keeps_every_hit(
    v2: V2Client, cluster: TestCluster, http: aiohttp.ClientSession, name: str, passing: int
) -> None:
    """A graph index masked down to a few rows misses hits; narrow filters are answered exactly."""
    rows = 5000  # above the smallest segment the coordinator indexes
    schema = {"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                         {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]}
    await v2.ok("collections/create", {"collectionName": name, "schema": schema, "indexParams": [
        {"fieldName": "vector", "indexType": "HNSW", "metricType": "L2", "params": {"M": 4, "efConstruction": 16}}]})
    vectors = np.random.default_rng(passing).standard_normal((rows, DIM)).astype(np.float32)
    await v2.ok("entities/insert", {"collectionName": name,
                                    "data": [{"id": i, "vector": v.tolist()} for i, v in enumerate(vectors)]})
    await V1Client(http, cluster.v1_url).flush(name)
    while (await v2.ok("indexes/describe", {"collectionName": name, "indexName": "vector"}))[0]["indexState"] != "Finished":
        await asyncio.sleep(0.2)
    query = vectors[7] + 0.05
    hits = await v2.ok("entities/search", {"collectionName": name, "data": [query.tolist()], "limit": 10,
                                           "filter": f"id < {passing}", "searchParams": {"params": {"ef": 10}}})
    if passing < rows // 10:  # under a tenth of the segment passes: answered exactly
        ids = np.arange(passing)
        want = top_k(float_distances(vectors[:passing], query[None], "L2"), ids, 10)
        assert_same_hits([[(h["id"], h["distance"]) for h in hits]], want)
    else:
        assert len(hits) == 10 and all(h["id"] < passing for h in hits)
