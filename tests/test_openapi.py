"""The OpenAPI documents: served by the proxy without credentials, valid OpenAPI 3.1, and naming
exactly the routes each surface serves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from proxy import docs
from proxy.__main__ import http_app, parse_args, v1_app
from proxy.openapi import load
from proxy.surfaces import managed
from proxy.surfaces.auth import RateLimiter
from quiver.cluster import ClusterClient
from quiver.log import LogConfig
from tests.cluster import TestCluster

METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def served_documents(cluster: TestCluster) -> dict[str, str]:
    return {
        "milvus-v1": f"{cluster.v1_url}/openapi.json",
        "milvus-v2": f"{cluster.http_url}/v2/vectordb/openapi.json",
        "managed": f"{cluster.http_url}/api/v1/openapi.json",
    }


@pytest.mark.parametrize("name", ["milvus-v1", "milvus-v2", "managed"])
async def test_each_surface_serves_a_valid_document_without_credentials(
    name: str, http: aiohttp.ClientSession, cluster: TestCluster
) -> None:
    async with http.get(served_documents(cluster)[name]) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        document = await response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document == orjson.loads(orjson.dumps(load(name, managed.Model if name == "managed" else None)))


def routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(METHOD, path template) of every route of the app and its sub-applications (whose
    resources carry their prefix once mounted)."""
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from routes(resource._app)
            continue
        for route in resource:
            yield route.method, resource.canonical


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in METHODS}


async def test_every_route_is_documented_and_every_documented_route_served() -> None:
    cluster = ClusterClient("127.0.0.1:1", LogConfig(("nats://127.0.0.1:1",)), name="openapi")  # never called: the apps are only built
    try:
        limiter = RateLimiter()
        cfg = parse_args(["--coordinator", "127.0.0.1:1"])
        # Each port also serves Swagger UI's page and files (/docs), which are not API routes.
        served_v1 = set(routes(v1_app(cluster, cfg, limiter)))
        assert docs.ROUTES <= served_v1 and served_v1 - docs.ROUTES == documented(load("milvus-v1"))
        served = set(routes(http_app(cluster, cfg, limiter)))
        assert {r for r in served if r[1].startswith("/v2/")} == documented(load("milvus-v2"))
        assert {r for r in served if r[1].startswith("/api/v1/")} == documented(load("managed", managed.Model))
        assert {r for r in served if not r[1].startswith(("/v2/", "/api/v1/"))} == docs.ROUTES
    finally:
        await cluster.close()


def test_the_managed_request_schemas_come_from_the_models() -> None:
    """`x-body` and `x-query` are filled in from the pydantic models, so they cannot drift."""
    document = load("managed", managed.Model)
    create = document["paths"]["/api/v1/beta/directories"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DirectoryCreate"}
    assert document["components"]["schemas"]["DirectoryCreate"] == managed.DirectoryCreate.model_json_schema()
    listed = document["paths"]["/api/v1/beta/directories"]["get"]["parameters"]
    assert [p["name"] for p in listed] == list(managed.DirectoryListQuery.model_fields)
    assert "x-query" not in str(document) and "x-body" not in str(document)
