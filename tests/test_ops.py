"""What operators rely on: health and readiness probes, Prometheus metrics that move with the
work, JSON logs that follow one request through every role, and a standby coordinator."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
from pathlib import Path

import aiohttp
import numpy as np
import orjson
import pytest

from quiver.standalone import LOOPBACK, Child, free_port, role_argv
from tests.cluster import TestCluster, V1Client, V2Client, metric_sample, object_store_flags


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def test_every_role_answers_its_probes(cluster: TestCluster, http: aiohttp.ClientSession) -> None:
    for name in cluster.roles:
        base = cluster.ops_url(name)
        assert await get(http, base + "/healthz") == (200, '{"status": "ok"}'), name
        status, body = await get(http, base + "/readyz")
        assert status == 200 and orjson.loads(body) == {"ready": True, "reason": ""}, (name, body)


async def test_metrics_move_with_the_work(cluster: TestCluster, http: aiohttp.ClientSession, name: str) -> None:
    v1 = V1Client(http, cluster.v1_url)
    before = {role: await cluster.metrics(http, role) for role in cluster.roles}

    await v1.create_collection(name, 8)
    vectors = np.random.default_rng(5).standard_normal((4500, 8)).astype(np.float32)
    await v1.insert(name, vectors)
    await v1.flush(name)  # one sealed segment, big enough to be indexed
    status, reply = await v1.request("POST", f"/collections/{name}/indexes",
                                     {"index_type": "IVFFLAT", "params": {"nlist": 16}})
    assert status == 201, reply
    await v1.search(name, vectors[:3], 5, params={"nprobe": 4})

    after = {role: await cluster.metrics(http, role) for role in cluster.roles}
    route = "/collections/{name}/vectors"
    for method, status in (("POST", "201"), ("PUT", "200")):
        labels = {"surface": "v1", "method": method, "route": route, "status": status}
        assert metric_sample(after["proxy"], "quiver_http_requests_total", **labels) >= \
            metric_sample(before["proxy"], "quiver_http_requests_total", **labels) + 1
    assert metric_sample(after["proxy"], "quiver_http_request_seconds_count", surface="v1", method="PUT", route=route) >= 1
    inserted = sum(metric_sample(after[r], "quiver_rows_inserted_total") - metric_sample(before[r], "quiver_rows_inserted_total")
                   for r in cluster.roles if r.startswith("datanode"))
    assert inserted == 4500
    index_node = next(r for r in cluster.roles if r.startswith("indexnode"))
    for name_, labels in (("quiver_index_builds_total", {"outcome": "finished"}),
                          ("quiver_index_build_seconds_count", {"index_type": "IVF_FLAT"})):
        assert metric_sample(after[index_node], name_, **labels) >= metric_sample(before[index_node], name_, **labels) + 1, name_
    assert metric_sample(after["proxy"], "quiver_log_publish_seconds_count") >= 1
    consumed = sum(metric_sample(after[r], "quiver_log_consumed_messages_total") for r in cluster.roles if r.startswith("datanode"))
    assert consumed >= 1
    searched = sum(metric_sample(after[r], "quiver_rpc_requests_total", method="DataNodeServer.Search", code="SUCCESS")
                   for r in cluster.roles if r.startswith("datanode"))
    assert searched >= 1
    assert metric_sample(after["coordinator"], "quiver_rpc_requests_total", method="CoordinatorServer.Heartbeat", code="SUCCESS") > 0
    assert metric_sample(after["coordinator"], "quiver_nodes", role="data", alive="true") == len(cluster.data_nodes)
    assert metric_sample(after["coordinator"], "quiver_collections") >= 1
    for role, text in after.items():
        assert metric_sample(text, "process_resident_memory_bytes") > 0, role
        assert metric_sample(text, "quiver_event_loop_lag_seconds_count") > 0, role
        # RPC and route names (UpdatePassword, users/update_password) are no secret.
        values = re.sub(r'(method|route)="[^"]*"', "", text)
        assert "password" not in values.lower() and "Milvus" not in values, f"{role} metrics carry no secret"
    await v1.request("DELETE", f"/collections/{name}")


def log_entries(cluster: TestCluster, role: str) -> list[dict[str, str]]:
    lines = cluster.roles[role].log_path.read_text(errors="replace").splitlines()
    return [orjson.loads(line) for line in lines if line.startswith("{")]


async def test_one_request_id_follows_a_request_through_every_role(
    cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    await V1Client(http, cluster.v1_url).create_collection(name, 4)
    request_id = f"trace-{name}"
    headers = {"X-Request-Id": request_id}
    async with http.post(f"{cluster.v1_url}/collections/{name}/vectors", headers=headers,
                         json={"vectors": [[1.0, 2.0, 3.0, 4.0]]}) as response:
        assert response.status == 201 and response.headers["X-Request-Id"] == request_id
    async with http.put(f"{cluster.v1_url}/system/task", headers=headers,
                        json={"flush": {"collection_names": [name]}}) as response:
        assert response.status == 200 and response.headers["X-Request-Id"] == request_id
    async with http.put(f"{cluster.v1_url}/collections/{name}/vectors", json={"bad": 1},
                        headers={"X-Request-Id": "not a token!"}) as response:
        assert response.status == 400 and re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Request-Id"])

    # The coordinator asked the data node to flush (it logs that), the node persisted the
    # segment (it logs that): both lines carry the id the client sent to the proxy.
    flushing = [e for e in log_entries(cluster, "coordinator") if e["request_id"] == request_id]
    assert any("flushing" in e["message"] for e in flushing), flushing
    persisted = [e for r in cluster.roles if r.startswith("datanode") for e in log_entries(cluster, r)
                 if e["request_id"] == request_id]
    assert any("persisted" in e["message"] for e in persisted), persisted
    for role in cluster.roles:
        entries = log_entries(cluster, role)
        assert entries and all({"time", "level", "logger", "message", "role", "request_id"} <= set(e) for e in entries)
        assert {e["role"] for e in entries} == {role.split("-")[0]}


async def test_the_proxy_writes_one_access_log_line_per_request(
    cluster: TestCluster, http: aiohttp.ClientSession, v2: V2Client, name: str
) -> None:
    request_id = f"access-{name}"
    headers = {"X-Request-Id": request_id}
    await V1Client(http, cluster.v1_url).create_collection(name, 4)
    async with http.get(f"{cluster.v1_url}/collections/{name}", headers=headers) as response:
        assert response.status == 200
    async with http.get(f"{cluster.v1_url}/collections/no_such_{name}", headers=headers) as response:
        assert response.status == 404
    status, _ = await v2.post("collections/describe", {"collectionName": name}, headers)
    assert status == 200

    await asyncio.sleep(0.2)  # the proxy writes its log line after the response
    lines = [e for e in log_entries(cluster, "proxy") if e["logger"] == "proxy.access" and e["request_id"] == request_id]
    assert [(e["surface"], e["method"], e["path"], e["status"]) for e in lines] == [
        ("v1", "GET", f"/collections/{name}", 200),
        ("v1", "GET", f"/collections/no_such_{name}", 404),
        ("http", "POST", "/v2/vectordb/collections/describe", 200),
    ]
    for entry in lines:
        assert entry["level"] == "INFO" and 0 < entry["duration_ms"] < 30_000, entry
        assert entry["message"] == f"{entry['method']} {entry['path']} {entry['status']} {entry['duration_ms']:.3f} ms"
    await V1Client(http, cluster.v1_url).request("DELETE", f"/collections/{name}")


async def test_the_access_log_takes_the_sample_it_is_told(
    cluster: TestCluster, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A second proxy on the cluster with a quarter of its requests in the access log (the
    environment variable), then with none (the flag, which wins)."""
    requests = 400
    for sample, expected in (("", range(50, 151)), ("0", range(0, 1))):  # binomial(400, 1/4): 100 ± 6 sd
        v1_port = free_port()
        proxy = Child(
            "proxy-sampled",
            role_argv("proxy", "--host", LOOPBACK, "--v1-port", str(v1_port), "--http-port", str(free_port()),
                      "--coordinator", cluster.coordinator_address, *cluster.log_flags,
                      "--ready-file", str(tmp_path / "proxy.json"), "--log-level", "INFO",
                      *(["--access-log-sample", sample] if sample else [])),
            tmp_path / f"proxy-{sample or 'env'}.log",
            tmp_path / "proxy.json",
        )
        os.environ["QUIVER_ACCESS_LOG_SAMPLE"] = "0.25"  # the child inherits it
        try:
            await proxy.start()
        finally:
            del os.environ["QUIVER_ACCESS_LOG_SAMPLE"]
        try:
            await proxy.wait_ready()
            for _ in range(requests):
                async with http.get(f"http://{LOOPBACK}:{v1_port}/state") as response:
                    assert response.status == 200
        finally:
            await proxy.stop()
        entries = [orjson.loads(line) for line in proxy.log_path.read_text().splitlines() if line.startswith("{")]
        written = [e for e in entries if e["logger"] == "proxy.access"]
        assert len(written) in expected, (sample, len(written))
        assert all(e["path"] == "/state" and e["status"] == 200 for e in written)


@pytest.fixture
async def standby(cluster: TestCluster, tmp_path: Path) -> Child:
    """A second coordinator on the cluster's Redis: it must wait while the first holds the lease."""
    child = Child(
        "coordinator-standby",
        role_argv("coordinator", "--port", str(free_port()), "--redis-url", f"redis://{LOOPBACK}:{cluster.redis_port}/0",
                  "--lease-ttl", "1.5", "--ops-port", str(free_port()), "--ready-file", str(tmp_path / "standby.json"),
                  *object_store_flags(cluster.object_store.config("quiver")), *cluster.log_flags),
        tmp_path / "standby.log",
        tmp_path / "standby.json",
    )
    await child.start()
    yield child
    await child.stop()


async def test_a_standby_coordinator_takes_over_when_the_active_one_dies(
    cluster: TestCluster, http: aiohttp.ClientSession, standby: Child
) -> None:
    standby_ops = f"http://{LOOPBACK}:{standby.argv[standby.argv.index('--ops-port', 5) + 1]}"
    for _ in range(100):  # the standby serves its probes while it waits for the lease
        try:
            status, body = await get(http, standby_ops + "/readyz")
            break
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    assert status == 503 and "standby" in orjson.loads(body)["reason"]
    assert (await get(http, standby_ops + "/healthz"))[0] == 200
    await asyncio.sleep(2.0)
    assert standby.ready_file is not None and not standby.ready_file.exists(), "a standby serves no gRPC"

    await cluster.kill("coordinator")
    try:
        ready = await standby.wait_ready(timeout_s=10)
        assert (await get(http, standby_ops + "/readyz"))[0] == 200
        assert ready["address"]
    finally:
        await standby.stop()  # releases the lease at once
        await cluster.restart("coordinator")
        await cluster.wait_until_serving()


@pytest.mark.parametrize("role", ["proxy", "datanode"])
async def test_a_role_whose_port_is_taken_stops_with_one_line_naming_it(
    cluster: TestCluster, tmp_path: Path, role: str
) -> None:
    """A REST port (the proxy's) or a gRPC one (a data node's, which gRPC alone would share with
    the holder): the role exits 1 logging one line that names the port and the flag, no
    traceback, and a supervisor waiting for it says that line."""
    with socket.create_server((LOOPBACK, 0)) as held:
        port = held.getsockname()[1]
        if role == "proxy":
            flags = ["--v1-port", str(free_port()), "--http-port", str(port), *cluster.log_flags]
            expected = f"port {port} (REST v2 and managed indexes) is already in use on {LOOPBACK}; " \
                       "stop what uses it or pass --http-port"
        else:
            flags = ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--node-id", "datanode-taken",
                     *object_store_flags(cluster.object_store.config("quiver")), *cluster.log_flags]
            expected = f"port {port} (gRPC) is already in use on {LOOPBACK}; stop what uses it or pass --port"
        child = Child(
            f"{role}-taken",
            role_argv(role, "--host", LOOPBACK, "--coordinator", cluster.coordinator_address,
                      "--ready-file", str(tmp_path / "ready.json"), *flags),
            tmp_path / f"{role}.log",
            tmp_path / "ready.json",
        )
        await child.start()
        try:
            with pytest.raises(RuntimeError) as stopped:
                await child.wait_ready(timeout_s=60)
        finally:
            await child.stop()
    assert child.process is not None and child.process.returncode == 1
    assert str(stopped.value) == f"{role} stopped: {expected}"
    log = child.log_path.read_text()
    assert "Traceback" not in log, log
    errors = [e for e in map(orjson.loads, filter(None, log.splitlines())) if e["level"] == "ERROR"]
    assert [e["message"] for e in errors] == [f"{role} stopped: {expected}"], log


async def test_a_role_removes_its_ready_file_when_it_stops_cleanly_and_not_when_killed(
    cluster: TestCluster, tmp_path: Path
) -> None:
    proxy = Child(
        "proxy-ready-file",
        role_argv("proxy", "--host", LOOPBACK, "--v1-port", "0", "--http-port", "0",
                  "--coordinator", cluster.coordinator_address, *cluster.log_flags,
                  "--ready-file", str(tmp_path / "run" / "proxy.json")),
        tmp_path / "proxy.log",
        tmp_path / "run" / "proxy.json",
    )
    assert proxy.ready_file is not None and proxy.process is None
    await proxy.start()
    killed = (await proxy.wait_ready())["pid"]
    assert proxy.process is not None
    proxy.process.send_signal(signal.SIGKILL)
    await proxy.process.wait()
    assert orjson.loads(proxy.ready_file.read_bytes())["pid"] == killed  # stays: it did not stop cleanly
    await proxy.start()
    assert (await proxy.wait_ready())["pid"] == proxy.process.pid != killed
    await proxy.stop()  # SIGTERM
    assert proxy.process.returncode == 0 and not proxy.ready_file.exists()
