"""Syncs across ingest nodes: one at a time per index, and a sync whose node dies is finished
by the next one, without duplicating what the dead run had written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ingestnode.store import Busy, ManagedStore
from tests.cluster import TestCluster
from tests.managed.conftest import ManagedApi
from tests.managed.test_managed_api import long_document


@pytest.fixture
async def store(cluster: TestCluster) -> AsyncIterator[ManagedStore]:
    redis = Redis.from_url(f"redis://127.0.0.1:{cluster.redis_port}/0", decode_responses=True)
    yield ManagedStore(redis)
    await redis.aclose()


async def test_one_sync_per_index_whichever_node_asks(api: ManagedApi, store: ManagedStore) -> None:
    directory_id = await api.directory("leased")
    index = await api.wait_synced((await api.index(directory_id))["id"])
    await store.request_sync(index["id"], "job-a", 0)
    with pytest.raises(Busy):  # what a second ingest node's SyncIndex meets
        await store.request_sync(index["id"], "job-b", 0)
    assert (await api.request("POST", f"/indexes/{index['id']}/sync")).status == 409
    await api.wait_synced(index["id"], after_run=index["metadata"]["last_sync"]["run_id"])

    # The lease: a run holds it until released or expired; no other run gets it meanwhile.
    assert await store.take_lease(index["id"], "run-1", 60_000)
    assert not await store.take_lease(index["id"], "run-2", 60_000)
    assert not await store.keep_lease(index["id"], "run-2", 60_000)
    assert await store.keep_lease(index["id"], "run-1", 60_000)
    await store.release_lease(index["id"], "run-1")
    assert await store.take_lease(index["id"], "run-2", 100)
    await asyncio.sleep(0.2)
    assert await store.take_lease(index["id"], "run-3", 100)  # run-2's lease expired
    await asyncio.sleep(0.2)  # as if Redis had lost it: its holder takes it back
    assert await store.keep_lease(index["id"], "run-3", 60_000)
    assert not await store.take_lease(index["id"], "run-4", 60_000)


async def test_a_sync_outlives_its_ingest_node(api: ManagedApi, cluster: TestCluster) -> None:
    directory_id = await api.directory("resumed")
    await api.upload(directory_id, "long.txt", long_document(60))
    index = await api.index(directory_id)
    while ((await api.get_index(index["id"]))["metadata"]["progress"] or {}).get("chunks_done", 0) == 0:
        await asyncio.sleep(0.1)
    await cluster.kill("ingestnode")  # some chunks are in the collection, written by the dead run
    await cluster.restart("ingestnode")

    done = await api.wait_synced(index["id"])
    metadata = done["metadata"]
    assert metadata["status"] == "ready" and metadata["last_sync"]["outcome"] == "completed"
    assert metadata["last_sync"]["files_parsed"] == 0  # the dead run had parsed it: only the export was left
    hits = await api.retrieve(index["id"], "harbour lanterns", top_k=500)
    assert len(hits) == metadata["chunk_count"]  # each chunk once: the dead run's rows are gone
    assert sorted(h["static_fields"]["chunk_index"] for h in hits) == list(range(metadata["chunk_count"]))
