"""Fixtures for the managed-index API: a client of /api/v1 on the session's cluster."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from quiver.rpc import Channels, call
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from tests.cluster import TestCluster

SYNC_TIMEOUT_S = 180.0


class Reply:
    def __init__(self, status: int, body: Any, headers: CIMultiDictProxy[str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


class ManagedApi:
    """LlamaCloud's API on the proxy, as a plain HTTP client sees it."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str | None = "root:Milvus") -> None:
        self.http = http
        self.base = base_url + "/api/v1"
        self.token = token

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:
            raw = await response.read()
            body: Any = raw
            if response.content_type == "application/json" and raw:
                body = await response.json()
            return Reply(response.status, body, response.headers)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = await self.request(method, path, **kwargs)
        assert 200 <= reply.status < 300, reply
        return reply.body

    async def directory(self, name: str) -> str:
        return str((await self.ok("POST", "/beta/directories", json={"name": name}))["id"])

    async def upload(self, directory_id: str, name: str, data: bytes, **fields: str) -> dict[str, Any]:
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, value)
        form.add_field("upload_file", data, filename=name)
        return dict(await self.ok("POST", f"/beta/directories/{directory_id}/files/upload", data=form))

    async def index(self, directory_id: str, **fields: Any) -> dict[str, Any]:
        return dict(await self.ok("POST", "/indexes", json={"source_directory_id": directory_id, **fields}))

    async def get_index(self, index_id: str) -> dict[str, Any]:
        return dict(await self.ok("GET", f"/indexes/{index_id}", params={"expand": "sync_in_progress"}))

    async def wait_synced(self, index_id: str, after_run: str | None = None) -> dict[str, Any]:
        """The index once no sync is queued or running (and, with `after_run`, once a run other
        than that one has ended)."""
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while time.monotonic() < deadline:
            index = await self.get_index(index_id)
            last = index["metadata"]["last_sync"] or {}
            if not index["sync_in_progress"] and last and last.get("run_id") != after_run:
                return index
            await asyncio.sleep(0.2)
        raise TimeoutError(f"index {index_id} did not finish syncing: {index}")

    async def sync(self, index_id: str) -> dict[str, Any]:
        """Runs a sync to its end; returns the index."""
        before = (await self.get_index(index_id))["metadata"]["last_sync"] or {}
        await self.ok("POST", f"/indexes/{index_id}/sync")
        return await self.wait_synced(index_id, after_run=before.get("run_id"))

    async def retrieve(self, index_id: str, query: str, **fields: Any) -> list[dict[str, Any]]:
        body = await self.ok("POST", "/retrieval/retrieve", json={"index_id": index_id, "query": query, **fields})
        return list(body["results"])


@pytest.fixture(scope="module")
def api(http: aiohttp.ClientSession, cluster: TestCluster) -> ManagedApi:
    return ManagedApi(http, cluster.http_url)


async def issue_api_key(cluster: TestCluster, user: str = "root") -> str:
    channels = Channels()
    try:
        stub = CoordinatorStub(channels.get(cluster.coordinator_address))
        reply = await call(stub.CreateApiKey, cpb.CreateApiKeyRequest(user=user), peer="coordinator")
    finally:
        await channels.close()
    return str(reply.api_key)
