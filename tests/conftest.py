"""Shared fixtures: one real cluster (Redis + every role as processes) per test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests import install_check
from tests.cluster import TestCluster, V1Client, V2Client


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.nodeid.startswith(install_check.TEST_FILE) for item in session.items):
        install_check.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    install_check.stop()


@pytest.fixture(scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestCluster]:
    """Two data nodes, an index node, the coordinator, the proxy and Redis."""
    running = TestCluster(tmp_path_factory.mktemp("cluster"), data_nodes=2)
    try:
        await running.start()
    except BaseException:
        print(running.log_tail())
        await running.stop()
        raise
    yield running
    await running.stop()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


@pytest.fixture
def v1(http: aiohttp.ClientSession, cluster: TestCluster) -> V1Client:
    return V1Client(http, cluster.v1_url)


@pytest.fixture
def v2(http: aiohttp.ClientSession, cluster: TestCluster) -> V2Client:
    return V2Client(http, cluster.http_url)


@pytest.fixture
def name() -> str:
    """A collection name no other test uses."""
    return f"c_{uuid.uuid4().hex[:12]}"
