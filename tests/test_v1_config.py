"""Runtime settings, devices, the data nodes' memory cache, and /system through the Milvus 0.x API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import orjson
import psutil
import pytest

from tests.cluster import TestCluster, V1Client
from tests.reference import assert_same_hits, float_distances, top_k
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub

DEFAULT_ADVANCED = {"cpu_cache_capacity": 4, "cache_insert_data": False, "use_blas_threshold": 1100}


@pytest.fixture
async def restore_settings(v1: V1Client) -> AsyncIterator[None]:
    """Settings are cluster-wide: put the defaults back for the tests that follow."""
    yield
    await v1.request("PUT", "/config/advanced", {})
    await v1.request("PUT", "/config/gpu_resources", {"enable": True, "cache_capacity": 1})


async def expect(v1: V1Client, method: str, path: str, body: Any, status: int, code: int) -> None:
    got, reply = await v1.request(method, path, body)
    assert (got, reply.get("code")) == (status, code), reply


async def test_advanced_settings(v1: V1Client, restore_settings: None) -> None:
    assert await v1.request("GET", "/config/advanced") == (200, DEFAULT_ADVANCED)
    changed = {"cpu_cache_capacity": 2, "cache_insert_data": True, "use_blas_threshold": 20}
    assert await v1.request("PUT", "/config/advanced", changed) == (200, {"message": "OK", "code": 0})
    assert await v1.request("GET", "/config/advanced") == (200, changed)
    # A missing field takes Milvus' default, and is written.
    assert await v1.request("PUT", "/config/advanced", {"use_blas_threshold": 7}) == (200, {"message": "OK", "code": 0})
    assert await v1.request("GET", "/config/advanced") == (200, {**DEFAULT_ADVANCED, "use_blas_threshold": 7})

    await expect(v1, "PUT", "/config/advanced", {"cpu_cache_capacity": None}, 400, 34)
    await expect(v1, "PUT", "/config/advanced", {"cache_insert_data": "yes"}, 400, 36)
    await expect(v1, "PUT", "/config/advanced", {"use_blas_threshold": True}, 400, 36)
    await expect(v1, "PUT", "/config/advanced", {"no_such_setting": 1}, 400, 36)
    await expect(v1, "PUT", "/config/advanced", {"use_blas_threshold": -1}, 400, 5)
    too_much = psutil.virtual_memory().total // 1024**3 + 10
    await expect(v1, "PUT", "/config/advanced", {"cpu_cache_capacity": too_much}, 400, 5)
    assert await v1.request("GET", "/config/advanced") == (200, {**DEFAULT_ADVANCED, "use_blas_threshold": 7})


async def test_gpu_settings_on_a_cluster_without_gpus(v1: V1Client, restore_settings: None) -> None:
    status, gpu = await v1.request("GET", "/config/gpu_resources")
    assert (status, gpu) == (200, {"enable": False, "cache_capacity": 1,
                                   "search_resources": ["GPU0"], "build_index_resources": ["GPU0"]})
    body = {"enable": True, "cache_capacity": 2, "search_resources": ["gpu1"], "build_index_resources": ["GPU0", "gpu2"]}
    assert await v1.request("PUT", "/config/gpu_resources", body) == (200, {"message": "OK", "code": 0})
    _, gpu = await v1.request("GET", "/config/gpu_resources")
    assert gpu == {"enable": False, "cache_capacity": 2,  # enabled, but no index node has a GPU
                   "search_resources": ["GPU1"], "build_index_resources": ["GPU0", "GPU2"]}
    assert await v1.request("PUT", "/config/gpu_resources", {"enable": False, "cache_capacity": 1}) == (
        200, {"message": "Set Gpu resources to false", "code": 0})
    _, gpu = await v1.request("GET", "/config/gpu_resources")
    assert gpu["search_resources"] == ["GPU0"], "missing lists default to GPU0"

    await expect(v1, "PUT", "/config/gpu_resources", {"enable": None, "cache_capacity": 1}, 400, 34)
    await expect(v1, "PUT", "/config/gpu_resources", {"enable": True}, 400, 34)
    await expect(v1, "PUT", "/config/gpu_resources", {"enable": True, "cache_capacity": 1, "search_resources": ["cpu0"]}, 400, 5)
    await expect(v1, "PUT", "/config/gpu_resources", b"{", 400, 36)


async def test_devices_report_the_real_machine(v1: V1Client) -> None:
    status, devices = await v1.request("GET", "/devices")
    assert (status, devices) == (200, {"cpu": {"memory": psutil.virtual_memory().total // 1024**3}, "gpus": {}})
    async with v1.http.options(v1.base + "/config/advanced") as response:
        assert response.status == 204


async def coordinator_segments(cluster: TestCluster, name: str) -> list[cpb.SegmentInfo]:
    async with grpc.aio.insecure_channel(cluster.coordinator_address) as channel:
        reply = await CoordinatorStub(channel).DescribeCollection(cpb.CollectionRef(name=name))
    return list(reply.stats.segments)


async def wait_for_residency(cluster: TestCluster, name: str, resident: bool) -> None:
    """Nodes report residency in their heartbeats."""
    for _ in range(100):
        segments = await coordinator_segments(cluster, name)
        if segments and all(s.resident == resident for s in segments):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"segments of {name} never became resident={resident}: {segments}")


async def test_small_cache_still_answers_exactly_and_load_fills_it(
    v1: V1Client, cluster: TestCluster, name: str, restore_settings: None
) -> None:
    rng = np.random.default_rng(43)
    await v1.create_collection(name, 32)
    base = rng.standard_normal((8000, 32)).astype(np.float32)
    ids: list[int] = []
    for start in range(0, len(base), 2000):  # four flushed segments
        ids += await v1.insert(name, base[start : start + 2000])
        await v1.flush(name)
    queries = rng.standard_normal((10, 32)).astype(np.float32)
    expected = top_k(float_distances(base, queries, "L2"), np.array(ids), 10)

    await v1.request("PUT", "/config/advanced", {"cpu_cache_capacity": 0})
    await wait_for_residency(cluster, name, resident=False)  # freshly flushed data is not kept
    for _ in range(3):  # each search loads what it needs and evicts it again
        assert_same_hits(await v1.search(name, queries, 10), expected)
    await wait_for_residency(cluster, name, resident=False)

    await v1.request("PUT", "/config/advanced", {"cpu_cache_capacity": 1})
    await asyncio.sleep(0.7)  # the nodes take the new size with their next heartbeat
    status, reply = await v1.request("PUT", "/system/task", {"load": {"collection_name": name}})
    assert (status, reply) == (200, {"code": 0, "message": "OK"})
    await wait_for_residency(cluster, name, resident=True)
    assert_same_hits(await v1.search(name, queries, 10), expected)
    await v1.request("PUT", "/config/advanced", {"cpu_cache_capacity": 0})
    await wait_for_residency(cluster, name, resident=False)


async def test_cache_insert_data_keeps_flushed_segments_loaded(
    v1: V1Client, cluster: TestCluster, name: str, restore_settings: None
) -> None:
    await v1.request("PUT", "/config/advanced", {"cache_insert_data": True})
    await asyncio.sleep(0.7)
    await v1.create_collection(name, 8)
    await v1.insert(name, np.ones((50, 8), dtype=np.float32))
    await v1.flush(name)
    await wait_for_residency(cluster, name, resident=True)


async def test_system_messages(v1: V1Client) -> None:
    async def reply(msg: str) -> Any:
        status, body = await v1.request("GET", f"/system/{msg}")
        assert status == 200 and body["code"] == 0 and body["message"] == "OK", body
        return body["reply"]

    assert await reply("status") == "OK"
    assert await reply("version") == "0.10.5"
    assert await reply("mode") == "CPU"
    assert (await reply("build_commit_id")).startswith("quiver-")
    info = orjson.loads(await reply("info"))
    roles = sorted(n["role"] for n in info["nodes"] if n["alive"])
    assert roles == ["data", "data", "index"] and info["server"].startswith("Quiver")
    assert isinstance(orjson.loads(await reply("tasktable")), list)
    status, config = await v1.request("GET", "/system/config")
    assert status == 200 and config["restart_required"] is False
    assert config["cache_config"] == {"cpu_cache_capacity": 4, "cache_insert_data": False}
