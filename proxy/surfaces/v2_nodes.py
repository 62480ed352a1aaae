"""REST v2 nodes, root only: list the cluster's data and index nodes, and drain a data node.

Draining is what `quiver datanode --drain` does, asked once: the node is named draining, the
rebalancer moves its shard channels to the other data nodes and moves none to it, and `undo`
ends that. The reply counts the channels it still consumes; asking again (it changes nothing
already asked) says how the move goes, and 0 means the node can be removed. A node that
registers again (restarts) is no longer draining.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from proxy.surfaces.auth import check_privilege
from proxy.surfaces.v2 import CLUSTER, ok, read_body
from quiver.schema import Node


def describe_node(node: Node) -> dict[str, Any]:
    return {
        "nodeId": node.node_id,
        "role": node.role.name.lower(),
        "address": node.address,
        "alive": node.alive,
        "startedMs": node.started_ms,
        "memoryBytes": node.memory_bytes,
        "cpuCount": node.cpu_count,
        "gpuMemoryBytes": list(node.gpu_memory_bytes),
    }


async def list_nodes(request: web.Request) -> web.Response:
    await read_body(request)
    check_privilege(request)
    return ok([describe_node(n) for n in await request.app[CLUSTER].nodes()])


async def drain_node(request: web.Request) -> web.Response:
    body = await read_body(request)
    check_privilege(request)
    node_id = body.name("nodeId")
    undo = body.boolean("undo", False)
    channels_left = await request.app[CLUSTER].drain_node(node_id, undo)
    return ok({"channelsLeft": channels_left})


Handler = Callable[[web.Request], Awaitable[web.Response]]


def routes() -> dict[tuple[str, str], Handler]:
    return {
        ("nodes", "list"): list_nodes,
        ("nodes", "drain"): drain_node,
    }
