"""REST v2 nodes: root lists the cluster's nodes and drains a data node (what `quiver datanode
--drain` asks); anyone else is refused. That a drained node's channels move without a failed
read is tests/test_object_storage.py's."""

from __future__ import annotations

import uuid

import aiohttp

from tests.cluster import TestCluster, V2Client


async def test_root_lists_the_data_and_index_nodes(v2: V2Client, cluster: TestCluster) -> None:
    nodes = {n["nodeId"]: n for n in await v2.ok("nodes/list", {})}
    for child in cluster.data_nodes:
        node = nodes[child.name]
        assert (node["role"], node["alive"]) == ("data", True), node
        assert node["address"] and node["cpuCount"] > 0 and node["memoryBytes"] > 0, node
    assert {n["role"] for n in nodes.values()} == {"data", "index"}


async def test_draining_a_data_node_says_how_many_channels_it_still_consumes(v2: V2Client) -> None:
    try:
        drained = await v2.ok("nodes/drain", {"nodeId": "datanode-1"})
    finally:  # at once: the session's other tests need both data nodes taking channels
        undone = await v2.ok("nodes/drain", {"nodeId": "datanode-1", "undo": True})
    for reply in (drained, undone):
        assert list(reply) == ["channelsLeft"] and isinstance(reply["channelsLeft"], int), reply
        assert reply["channelsLeft"] >= 0


async def test_only_a_registered_data_node_can_be_drained(v2: V2Client) -> None:
    for node_id in ("no-such-node", "indexnode-1"):
        message = await v2.fails("nodes/drain", {"nodeId": node_id}, 901)
        assert node_id in message


async def test_a_drain_names_its_node_as_a_string(v2: V2Client) -> None:
    await v2.fails("nodes/drain", {}, 1802)
    await v2.fails("nodes/drain", {"nodeId": ""}, 1802)
    await v2.fails("nodes/drain", {"nodeId": 1}, 1801)
    await v2.fails("nodes/drain", {"nodeId": "datanode-1", "undo": "yes"}, 1801)


async def test_only_root_lists_or_drains_nodes(http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client) -> None:
    user, password = f"u_{uuid.uuid4().hex[:10]}", "a-Passw0rd"
    await v2.ok("users/create", {"userName": user, "password": password})
    try:
        as_user = V2Client(http, cluster.http_url, token=f"{user}:{password}")
        for path, body in (("nodes/list", {}), ("nodes/drain", {"nodeId": "datanode-1"})):
            status, reply = await as_user.post(path, body)
            assert (status, reply["code"]) == (403, 1401), (path, reply)
            assert "privilege not permitted" in reply["message"]
    finally:
        await v2.ok("users/drop", {"userName": user})
