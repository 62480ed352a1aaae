"""The official llama-cloud SDK as the client: base_url at the test cluster's proxy, api_key an
API key the coordinator issued. The end-to-end flow of test_managed_api, through the SDK's own
calls, models and exceptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import llama_cloud
import pytest
from llama_cloud import AsyncLlamaCloud

from managed.api import DEFAULT_ORGANIZATION_ID, DEFAULT_PROJECT_ID
from tests.cluster import TestCluster
from tests.managed.conftest import SYNC_TIMEOUT_S, issue_api_key
from tests.managed.test_managed_api import ANSWERS, corpus


@pytest.fixture(scope="module")
async def client(cluster: TestCluster) -> AsyncIterator[AsyncLlamaCloud]:
    # No retries: a test must see the first answer (the SDK retries 409s and 5xx by default).
    async with AsyncLlamaCloud(api_key=await issue_api_key(cluster), base_url=cluster.http_url,
                               max_retries=0, timeout=60) as sdk:
        yield sdk


async def wait_synced(client: AsyncLlamaCloud, index_id: str, after_run: str | None = None) -> object:
    """Polls as LlamaCloud's guide does: until metadata.status is ready (or failed)."""
    deadline = asyncio.get_running_loop().time() + SYNC_TIMEOUT_S
    while asyncio.get_running_loop().time() < deadline:
        index = await client.indexes.get(index_id, expand=["sync_in_progress"])
        assert index.metadata is not None
        run = (index.metadata.get("last_sync") or {}).get("run_id")
        if not index.sync_in_progress and index.metadata["status"] in ("ready", "failed") and run != after_run:
            return index
        await asyncio.sleep(0.2)
    raise TimeoutError(index_id)


async def test_the_sdk_drives_the_whole_flow(client: AsyncLlamaCloud) -> None:
    directory = await client.beta.directories.create(name="sdk corpus", description="every format")
    assert directory.id.startswith("dir-") and directory.type == "user"
    uploaded = {}
    for name, data in corpus().items():
        uploaded[name] = await client.beta.directories.files.upload(
            directory.id, upload_file=(name, data), metadata=json.dumps({"source": "sdk"}))
    assert uploaded["cats.txt"].unique_id == "cats.txt" and uploaded["cats.txt"].metadata == {"source": "sdk"}

    created = await client.indexes.create(source_directory_id=directory.id, name="sdk index",
                                          sync_frequency="manual", vector_target="DEFAULT")
    assert created.output_directory_id and created.export_config_id and created.sync_config_id
    index = await wait_synced(client, created.id)
    assert index.metadata["status"] == "ready" and index.metadata["file_count"] == 5
    assert index.last_synced_at is not None and index.last_exported_at is not None

    by_file = {f.id: name for name, f in uploaded.items()}
    for query, (name, phrase) in ANSWERS.items():
        # As LlamaCloud's examples do: retrieval by the index's export config id.
        found = await client.retrieval.retrieve(index_id=created.export_config_id, query=query, top_k=3)
        best = found.results[0]
        assert by_file[best.static_fields.parsed_directory_file_id] == name, query
        assert phrase in best.content and best.metadata["source"] == "sdk"

    # Remove a file, add one, sync: retrieval follows.
    await client.beta.directories.files.delete(uploaded["cats.txt"].id, directory_id=directory.id)
    orchard = await client.beta.directories.files.upload(
        directory.id, upload_file=("orchard.md", b"# Orchard\n\nThe orchard grows apples that ripen in September."))
    run = index.metadata["last_sync"]["run_id"]
    assert await client.indexes.sync(created.id) == {}
    index = await wait_synced(client, created.id, after_run=run)
    assert index.metadata["file_count"] == 5 and index.metadata["last_sync"]["files_removed"] == 1
    found = await client.retrieval.retrieve(index_id=created.id, query="When do the apples ripen?", top_k=10)
    ids = [r.static_fields.parsed_directory_file_id for r in found.results]
    assert ids[0] == orchard.id and uploaded["cats.txt"].id not in ids

    listed = [i.id async for i in client.indexes.list(page_size=1)]  # the SDK follows page tokens
    assert created.id in listed and len(listed) == len(set(listed))
    files = [f.display_name async for f in client.beta.directories.files.list(directory.id, page_size=2)]
    assert sorted(files) == sorted([*(n for n in corpus() if n != "cats.txt"), "orchard.md"])

    await client.indexes.delete(created.id)
    with pytest.raises(llama_cloud.NotFoundError):
        await client.indexes.get(created.id)


async def test_sdk_errors_are_its_own_exceptions(client: AsyncLlamaCloud, cluster: TestCluster) -> None:
    with pytest.raises(llama_cloud.NotFoundError) as missing:
        await client.indexes.create(source_directory_id="dir-abc123")
    assert missing.value.status_code == 404 and missing.value.body == {"detail": "Directory dir-abc123 not found"}
    directory = await client.beta.directories.create(name="sdk errors")
    with pytest.raises(llama_cloud.UnprocessableEntityError) as invalid:
        await client.indexes.create(source_directory_id=directory.id, sync_frequency="hourly")
    assert invalid.value.body["detail"][0]["loc"] == ["body", "sync_frequency"]
    created = await client.indexes.create(source_directory_id=directory.id)
    await wait_synced(client, created.id)
    with pytest.raises(llama_cloud.ConflictError) as idle:
        await client.indexes.cancel_sync(created.id)
    assert idle.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(llama_cloud.ConflictError):
        await client.beta.directories.delete(directory.id)
    async with AsyncLlamaCloud(api_key="llx-wrong", base_url=cluster.http_url, max_retries=0) as stranger:
        with pytest.raises(llama_cloud.AuthenticationError):
            await stranger.indexes.get(created.id)


async def test_sdk_configurations_and_project_files(client: AsyncLlamaCloud) -> None:
    config = await client.configurations.create(
        name="sdk parse", parameters={"product_type": "parse_v2", "tier": "fast", "version": "latest",
                                      "page_ranges": {"max_pages": 1}})
    assert config.product_type == "parse_v2" and config.parameters.page_ranges.max_pages == 1
    assert (await client.configurations.retrieve(config.id)).id == config.id
    stored = await client.files.create(file=("ships.txt", b"Lighthouses guide ships."), purpose="user_data")
    directory = await client.beta.directories.create(name="sdk added")
    added = await client.beta.directories.files.add(directory.id, file_id=stored.id, unique_id="guide")
    assert (added.file_id, added.unique_id, added.display_name) == (stored.id, "guide", "ships.txt")
    created = await client.indexes.create(source_directory_id=directory.id,
                                          products=[{"product_config_id": config.id, "product_type": "parse"}])
    await wait_synced(client, created.id)
    found = await client.retrieval.retrieve(index_id=created.id, query="what guides ships?")
    assert found.results[0].static_fields.parsed_directory_file_id == added.id
    await client.indexes.delete(created.id)
    await client.configurations.delete(config.id)


async def test_sdk_account_calls_find_the_default_project_and_organisation(client: AsyncLlamaCloud) -> None:
    projects = await client.projects.list()
    assert [(p.id, p.name, p.organization_id, p.is_default) for p in projects] == \
        [(DEFAULT_PROJECT_ID, "Default", DEFAULT_ORGANIZATION_ID, True)]
    project = projects[0]
    assert await client.projects.get(project.id) == project
    assert await client.projects.get(project.id, organization_id=project.organization_id) == project
    assert await client.projects.list(organization_id=project.organization_id, project_name="Default") == projects
    assert await client.projects.list(project_name="Another") == []
    assert await client.projects.list(organization_id="another-organisation") == []
    with pytest.raises(llama_cloud.NotFoundError):
        await client.projects.get("another-project")
    with pytest.raises(llama_cloud.NotFoundError):
        await client.projects.get(project.id, organization_id="another-organisation")

    # Everything lives in it: what the SDK creates, and finds again by naming the project.
    directory = await client.beta.directories.create(name="in the default project")
    assert directory.project_id == project.id
    listed = [d.id async for d in client.beta.directories.list(project_id=project.id, organization_id=project.organization_id)]
    assert directory.id in listed
    await client.beta.directories.delete(directory.id)
