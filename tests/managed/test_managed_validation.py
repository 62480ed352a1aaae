"""Every validation and conflict case of the Create Index pages (both versions), and the other
routes' bad input: FastAPI-style 422 details, 404s, 409s with x-should-retry: false, 401s,
and nothing changed by a refused request."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.cluster import TestCluster
from tests.managed.conftest import ManagedApi

UNKNOWN_PROJECT = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"


@pytest.fixture(scope="module")
async def source(api: ManagedApi) -> str:
    """An empty directory: indexes over it sync in no time."""
    return await api.directory("validation")


@pytest.fixture(scope="module")
async def configs(api: ManagedApi) -> dict[str, str]:
    parse = await api.ok("POST", "/beta/configurations", json={
        "name": "validation parse", "parameters": {"product_type": "parse_v2", "tier": "fast", "version": "latest"}})
    extract = await api.ok("POST", "/beta/configurations", json={
        "name": "validation extract", "parameters": {"product_type": "extract_v2", "data_schema": {"type": "object"}}})
    return {"parse": parse["id"], "extract": extract["id"]}


async def index_count(api: ManagedApi) -> int:
    count, token = 0, None
    while True:
        page = await api.ok("GET", "/indexes", params={"page_size": 1000, **({"page_token": token} if token else {})})
        count += len(page["items"])
        token = page["next_page_token"]
        if token is None:
            return count


def detail(reply: Any) -> list[tuple[tuple[Any, ...], str]]:
    assert reply.status == 422, reply
    return [(tuple(d["loc"]), d["type"]) for d in reply.body["detail"]]


# -- POST /api/v1/indexes: both spec versions -----------------------------------------------------------


async def test_the_older_page_body_creates_an_index(api: ManagedApi, source: str, configs: dict[str, str]) -> None:
    created = await api.index(source, description="v1 body",
                              products=[{"product_config_id": configs["parse"], "product_type": "parse"}])
    # Every required field of the response, and the optional ones, present.
    required = {"id", "export_config_id", "name", "project_id", "source_directory_id", "sync_config_id"}
    assert required <= created.keys() and all(isinstance(created[k], str) and created[k] for k in required)
    assert {"created_at", "updated_at", "description", "last_exported_at", "last_synced_at", "metadata"} <= created.keys()
    assert created["name"] == "validation"  # named after the source directory
    assert created["description"] == "v1 body" and created["source_directory_id"] == source
    assert created["created_at"].endswith("Z") and created["metadata"]["status"] == "pending"
    assert (await api.wait_synced(created["id"]))["metadata"]["status"] == "ready"


async def test_the_newer_page_body_creates_an_index(api: ManagedApi, source: str, configs: dict[str, str]) -> None:
    created = await api.index(
        source, name="every field", description="v2 body", store_attachments=["screenshots", "items", "items"],
        sync_frequency="on_source_change", vector_target="DISABLED",
        products=[{"product_config_id": configs["parse"], "product_type": "parse"},
                  {"product_config_id": configs["extract"], "product_type": "extract"}],
    )
    metadata = created["metadata"]
    assert created["name"] == "every field"
    assert (metadata["store_attachments"], metadata["sync_frequency"], metadata["vector_target"]) == (
        ["items", "screenshots"], "on_source_change", "DISABLED")
    listed = await api.ok("GET", "/indexes", params={"source_directory_id": source, "page_size": 1000})
    assert created["id"] in {i["id"] for i in listed["items"]}
    nulls = await api.index(source, description=None, name=None, products=None, store_attachments=None)
    assert nulls["name"] == "validation"


BAD_BODIES = [
    ({}, [(("body", "source_directory_id"), "missing")]),
    ({"source_directory_id": 42}, [(("body", "source_directory_id"), "string_type")]),
    ({"source_directory_id": ""}, [(("body", "source_directory_id"), "string_too_short")]),
    ({"description": ["x"]}, [(("body", "description"), "string_type")]),
    ({"name": 3}, [(("body", "name"), "string_type")]),
    ({"name": ""}, [(("body", "name"), "string_too_short")]),
    ({"products": {"product_type": "parse"}}, [(("body", "products"), "list_type")]),
    ({"products": [{"product_type": "parse"}]}, [(("body", "products", 0, "product_config_id"), "missing")]),
    ({"products": [{"product_config_id": "cfg-x"}]}, [(("body", "products", 0, "product_type"), "missing")]),
    ({"products": [{"product_config_id": "cfg-x", "product_type": "transform"}]},
     [(("body", "products", 0, "product_type"), "literal_error")]),
    ({"products": [{"product_config_id": "cfg-x", "product_type": "parse"},
                   {"product_config_id": "cfg-y", "product_type": "parse"}]}, [(("body",), "value_error")]),
    ({"products": ["parse"]}, [(("body", "products", 0), "model_type")]),
    ({"store_attachments": ["screenshots", "pdf"]}, [(("body", "store_attachments", 1), "literal_error")]),
    ({"store_attachments": "screenshots"}, [(("body", "store_attachments"), "list_type")]),
    ({"sync_frequency": "hourly"}, [(("body", "sync_frequency"), "literal_error")]),
    ({"sync_frequency": None}, [(("body", "sync_frequency"), "literal_error")]),
    ({"vector_target": "default"}, [(("body", "vector_target"), "literal_error")]),
    ({"vector_target": "NONE"}, [(("body", "vector_target"), "literal_error")]),
]


@pytest.mark.parametrize(("fields", "expected"), BAD_BODIES, ids=[str(b[0])[:60] for b in BAD_BODIES])
async def test_bad_bodies_are_422_and_change_nothing(
    api: ManagedApi, source: str, fields: dict[str, Any], expected: list[tuple[tuple[Any, ...], str]]
) -> None:
    before = await index_count(api)
    body = {"source_directory_id": source, **fields} if "source_directory_id" not in fields and fields else fields
    reply = await api.request("POST", "/indexes", json=body)
    assert detail(reply) == expected
    assert all(d["msg"] for d in reply.body["detail"])
    assert await index_count(api) == before


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"", [(("body",), "missing")]), (b"{not json", [(("body", 1), "json_invalid")]),
     (b"[1, 2]", [(("body",), "model_type")]), (b"null", [(("body",), "model_type")])],
)
async def test_unparseable_bodies_are_422(api: ManagedApi, raw: bytes, expected: list[Any]) -> None:
    reply = await api.request("POST", "/indexes", data=raw, headers={"Content-Type": "application/json"})
    assert detail(reply) == expected


async def test_unknown_references_are_404(api: ManagedApi, source: str, configs: dict[str, str]) -> None:
    before = await index_count(api)
    cases = [
        ({"source_directory_id": "dir-abc123"}, "Directory dir-abc123 not found"),
        ({"source_directory_id": source, "products": [{"product_config_id": "cfg-missing", "product_type": "parse"}]},
         "Configuration cfg-missing not found"),
    ]
    for body, message in cases:
        reply = await api.request("POST", "/indexes", json=body)
        assert (reply.status, reply.body) == (404, {"detail": message})
    deleted = await api.directory("deleted source")
    await api.ok("DELETE", f"/beta/directories/{deleted}")
    assert (await api.request("POST", "/indexes", json={"source_directory_id": deleted})).status == 404
    wrong_type = await api.request("POST", "/indexes", json={
        "source_directory_id": source, "products": [{"product_config_id": configs["extract"], "product_type": "parse"}]})
    assert wrong_type.status == 422 and "extract_v2 configuration" in wrong_type.body["detail"][0]["msg"]
    other_project = await api.request("POST", "/indexes", params={"project_id": UNKNOWN_PROJECT},
                                      json={"source_directory_id": source})
    assert other_project.status == 404 and UNKNOWN_PROJECT in other_project.body["detail"]
    assert await index_count(api) == before


async def test_project_and_organization_parameters(api: ManagedApi, source: str) -> None:
    created = await api.index(source)
    project = created["project_id"]
    same = await api.ok("GET", f"/indexes/{created['id']}", params={"project_id": project, "organization_id": "org-1"})
    assert same["id"] == created["id"]
    for path in (f"/indexes/{created['id']}", "/indexes", "/beta/directories", f"/beta/directories/{source}"):
        assert (await api.request("GET", path, params={"project_id": UNKNOWN_PROJECT})).status == 404, path


async def test_unknown_ids_in_paths_are_404(api: ManagedApi, source: str) -> None:
    for method, path in [
        ("GET", "/indexes/idx-missing"), ("DELETE", "/indexes/idx-missing"), ("POST", "/indexes/idx-missing/sync"),
        ("POST", "/indexes/idx-missing/sync/cancel"), ("GET", "/indexes/dir-not-an-index"),
        ("GET", "/beta/directories/dir-missing"), ("PATCH", "/beta/directories/dir-missing"),
        ("DELETE", "/beta/directories/dir-missing"), ("GET", "/beta/directories/dir-missing/files"),
        ("GET", f"/beta/directories/{source}/files/dfl-missing"),
        ("DELETE", f"/beta/directories/{source}/files/dfl-missing"),
        ("GET", "/beta/files/file-missing"), ("DELETE", "/beta/files/file-missing"),
        ("GET", "/beta/files/file-missing/content"), ("GET", "/beta/configurations/cfg-missing"),
        ("DELETE", "/beta/configurations/cfg-missing"),
    ]:
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        reply = await api.request(method, path, **kwargs)
        assert reply.status == 404 and reply.body["detail"].endswith("not found"), (method, path, reply)
    unknown = await api.request("POST", "/retrieval/retrieve", json={"index_id": "ec-missing", "query": "x"})
    assert unknown.status == 404


async def test_sync_conflicts_are_409_without_retry(api: ManagedApi, source: str) -> None:
    created = await api.index(source)
    await api.wait_synced(created["id"])
    idle = await api.request("POST", f"/indexes/{created['id']}/sync/cancel")
    assert (idle.status, idle.headers["x-should-retry"]) == (409, "false")
    assert idle.body == {"detail": f"Index {created['id']} has no sync in progress"}
    synced = await api.sync(created["id"])
    assert synced["metadata"]["status"] == "ready"
    in_use = await api.request("DELETE", f"/beta/directories/{source}")
    assert (in_use.status, in_use.headers["x-should-retry"]) == (409, "false")


async def test_credentials_come_first(http: aiohttp.ClientSession, cluster: TestCluster, source: str) -> None:
    anonymous = ManagedApi(http, cluster.http_url, token=None)
    for method, path in [("POST", "/indexes"), ("GET", "/indexes/idx-missing"), ("GET", "/beta/directories"),
                         ("POST", "/retrieval/retrieve")]:
        reply = await anonymous.request(method, path, json={})
        assert reply.status == 401, (method, path)


# -- the other routes ------------------------------------------------------------------------------


async def test_directory_bodies(api: ManagedApi, source: str) -> None:
    assert detail(await api.request("POST", "/beta/directories", json={})) == [(("body", "name"), "missing")]
    assert detail(await api.request("POST", "/beta/directories", json={"name": "x", "type": "index"})) == [
        (("body", "type"), "literal_error")]
    assert detail(await api.request("POST", "/beta/directories", json={"name": "x", "connector_subscription_id": "c"})) == [
        (("body", "connector_subscription_id"), "none_required")]
    assert detail(await api.request("PATCH", f"/beta/directories/{source}", json={"name": ""})) == [
        (("body", "name"), "string_too_short")]
    assert detail(await api.request("GET", "/beta/directories", params={"page_size": "0"})) == [
        (("query", "page_size"), "greater_than_equal")]
    assert detail(await api.request("GET", "/beta/directories", params={"page_size": "many"})) == [
        (("query", "page_size"), "int_parsing")]
    assert detail(await api.request("GET", "/beta/directories", params={"types": ["user", "folder"]})) == [
        (("query", "types", 1), "literal_error")]


async def test_upload_forms(api: ManagedApi, source: str) -> None:
    path = f"/beta/directories/{source}/files/upload"
    form = aiohttp.FormData()
    form.add_field("display_name", "no file")
    form.add_field("other", "ignored")
    assert detail(await api.request("POST", path, data=form)) == [(("body", "upload_file"), "missing")]
    assert detail(await api.request("POST", path, json={"upload_file": "x"})) == [(("body", "upload_file"), "missing")]
    for metadata, kind in [("not json", "json_invalid"), ("[1]", "dict_type"), ('{"a": {"b": 1}}', None)]:
        form = aiohttp.FormData()
        form.add_field("metadata", metadata)
        form.add_field("upload_file", b"text", filename="a.txt")
        reply = await api.request("POST", path, data=form)
        assert reply.status == 422 and reply.body["detail"][0]["loc"][:2] == ["body", "metadata"], reply
        if kind:
            assert reply.body["detail"][0]["type"] == kind
    listed = await api.ok("GET", f"/beta/directories/{source}/files")
    assert listed["items"] == []  # nothing was stored by the refused uploads
    form = aiohttp.FormData()
    form.add_field("upload_file", b"text", filename="a.txt")
    missing = await api.request("POST", "/beta/directories/dir-missing/files/upload", data=form)
    assert missing.status == 404
    form = aiohttp.FormData()
    form.add_field("file", b"text", filename="a.txt")
    assert detail(await api.request("POST", "/beta/files", data=form)) == [(("body", "purpose"), "missing")]
    form = aiohttp.FormData()
    form.add_field("purpose", "training")
    form.add_field("file", b"text", filename="a.txt")
    assert detail(await api.request("POST", "/beta/files", data=form)) == [(("body", "purpose"), "literal_error")]
    add = await api.request("POST", f"/beta/directories/{source}/files", json={"file_id": "file-missing"})
    assert add.status == 404
    assert detail(await api.request("POST", f"/beta/directories/{source}/files", json={})) == [
        (("body", "file_id"), "missing")]


async def test_configuration_bodies(api: ManagedApi) -> None:
    path = "/beta/configurations"
    assert detail(await api.request("POST", path, json={"name": "x"})) == [(("body", "parameters"), "missing")]
    assert detail(await api.request("POST", path, json={"name": "x", "parameters": {"product_type": "ocr"}})) == [
        (("body", "parameters"), "union_tag_invalid")]
    assert detail(await api.request("POST", path, json={"name": "x", "parameters": {"product_type": "parse_v2"}})) == [
        (("body", "parameters", "parse_v2", "tier"), "missing"), (("body", "parameters", "parse_v2", "version"), "missing")]
    bad_pages = {"product_type": "parse_v2", "tier": "fast", "version": "latest", "page_ranges": {"target_pages": "1,x"}}
    assert detail(await api.request("POST", path, json={"name": "x", "parameters": bad_pages})) == [
        (("body", "parameters", "parse_v2", "page_ranges", "target_pages"), "string_pattern_mismatch")]
    assert detail(await api.request("POST", path, json={"name": "x", "parameters": {"product_type": "extract_v2"}})) == [
        (("body", "parameters", "extract_v2", "data_schema"), "missing")]
    assert detail(await api.request("GET", path, params={"product_type": "ocr"})) == [
        (("query", "product_type", 0), "literal_error")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"index_id": "ec-x"}, [(("body", "query"), "missing")]),
        ({"query": "x"}, [(("body", "index_id"), "missing")]),
        ({"index_id": "ec-x", "query": ""}, [(("body", "query"), "string_too_short")]),
        ({"index_id": "ec-x", "query": "x", "top_k": 0}, [(("body", "top_k"), "greater_than_equal")]),
        ({"index_id": "ec-x", "query": "x", "full_text_pipeline_weight": 1.5},
         [(("body", "full_text_pipeline_weight"), "less_than_equal")]),
        ({"index_id": "ec-x", "query": "x", "custom_filters": {"k": {"operator": "like", "value": "a"}}},
         [(("body", "custom_filters", "k", 0, "operator"), "literal_error")]),
        ({"index_id": "ec-x", "query": "x", "custom_filters": {"k": {"operator": "in", "value": "a"}}},
         [(("body", "custom_filters", "k", 0), "value_error")]),
        ({"index_id": "ec-x", "query": "x", "custom_filters": {"k": {"operator": "eq", "value": {"a": 1}}}},
         [(("body", "custom_filters", "k", 0, "value", "bool"), "bool_type"),
          (("body", "custom_filters", "k", 0, "value", "int"), "int_type"),
          (("body", "custom_filters", "k", 0, "value", "float"), "float_type"),
          (("body", "custom_filters", "k", 0, "value", "str"), "string_type"),
          (("body", "custom_filters", "k", 0, "value", "list[union[bool,int,float,str]]"), "list_type")]),
        ({"index_id": "ec-x", "query": "x", "static_filters": {"file_name": {"operator": "eq", "value": "a"}}},
         [(("body", "static_filters", "file_name"), "extra_forbidden")]),
        ({"index_id": "ec-x", "query": "x", "rerank": {"top_n": 0}}, [(("body", "rerank", "top_n"), "greater_than_equal")]),
    ],
)
async def test_retrieve_bodies(api: ManagedApi, fields: dict[str, Any], expected: list[Any]) -> None:
    assert detail(await api.request("POST", "/retrieval/retrieve", json=fields)) == expected


async def test_top_k_past_the_cap_is_capped_not_refused(api: ManagedApi, source: str) -> None:
    created = await api.wait_synced((await api.index(source))["id"])
    assert await api.retrieve(created["id"], "anything", top_k=100_000) == []  # an empty index
