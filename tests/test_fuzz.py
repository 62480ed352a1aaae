"""Bad input at scale: schemathesis generates requests from each surface's OpenAPI document
(valid ones and ones that break it) and sends them to a real cluster of its own.

Every answer must be the surface's own: no 5xx, a status the document lists, a body of the
documented type and schema, within a per-request timeout (a hang fails the run). The three
surfaces are fuzzed at once, seeded, over more than 10,000 requests in all; the proxy's own
request counter confirms the count. Fixtures (collections with data, a directory with a
synced index) give the generated requests something real to hit: see tests/fuzz_hooks.py.

Reproduce a failure with the `Reproduce with` curl command in the output, or rerun one surface
by hand with the command line that the failure message shows.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest

from tests.cluster import TestCluster, V1Client, V2Client
from tests.fuzz_hooks import FIXTURES_ENV
from tests.managed.conftest import ManagedApi

SEED = 20260917
REQUEST_TIMEOUT_S = 20
# Two kinds of generated requests over the ~110 operations of the three documents: schemathesis'
# coverage phase (each schema's boundaries and each way to break it: missing, mistyped, out of
# range; about 6,000 requests), then Hypothesis' fuzzing with this many test cases per operation
# and mode (valid and invalid input): about 10,700 requests in all. Coverage cases cost a third
# of the CPU of fuzzed ones, which is what the run's time goes to on two cores.
MAX_EXAMPLES = 50
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ROOT = "root:Milvus"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
async def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestCluster]:
    """A cluster of its own: the fuzzer creates, alters and drops things at random."""
    running = TestCluster(tmp_path_factory.mktemp("fuzzed"), data_nodes=1, index_nodes=1)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


async def v1_fixtures(http: aiohttp.ClientSession, cluster: TestCluster) -> dict[str, list[Any]]:
    v1 = V1Client(http, cluster.v1_url)
    rng = np.random.default_rng(SEED)
    await v1.create_collection("fz_float", 8)
    await v1.insert("fz_float", rng.random((200, 8), dtype=np.float32))
    status, reply = await v1.request("POST", "/collections/fz_float/partitions", {"partition_tag": "p1"})
    assert status == 201, reply
    await v1.flush("fz_float")
    await v1.create_collection("fz_binary", 16, metric="HAMMING")
    await v1.insert("fz_binary", rng.integers(0, 256, (50, 2)))
    segments = (await v1.stat("fz_float"))["partitions"][0]["segments"]
    return {"name": ["fz_float", "fz_binary"], "segment": [s["name"] for s in segments]}


async def v2_fixtures(http: aiohttp.ClientSession, cluster: TestCluster) -> dict[str, list[Any]]:
    v2 = V2Client(http, cluster.http_url, token=ROOT)
    rng = np.random.default_rng(SEED)
    await v2.ok("collections/create", {
        "collectionName": "fz_rich",
        "schema": {"enableDynamicField": True, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
            {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
            {"fieldName": "score", "dataType": "Float"},
            {"fieldName": "tags", "dataType": "Array", "elementDataType": "Int64", "elementTypeParams": {"max_capacity": 8}},
            {"fieldName": "meta", "dataType": "JSON"},
            {"fieldName": "flag", "dataType": "Bool", "nullable": True},
        ]},
        "indexParams": [{"fieldName": "vec", "metricType": "L2", "indexType": "HNSW", "params": {"M": 8, "efConstruction": 64}},
                        {"fieldName": "title", "indexType": "INVERTED"}],
        "params": {"consistencyLevel": "Strong"},
    })
    rows = [{"id": i, "vec": rng.random(4).tolist(), "title": f"title {i}", "score": float(i), "tags": [i, i + 1],
             "meta": {"n": i, "kind": "even" if i % 2 == 0 else "odd"}, "flag": i % 3 == 0, "color": "red"}
            for i in range(100)]
    await v2.ok("entities/insert", {"collectionName": "fz_rich", "data": rows})
    await v2.ok("collections/create", {"collectionName": "fz_keys", "dimension": 4, "idType": "VarChar",
                                       "params": {"max_length": 32, "consistencyLevel": "Strong"}})
    await v2.ok("entities/insert", {"collectionName": "fz_keys",
                                    "data": [{"id": f"k{i}", "vector": rng.random(4).tolist()} for i in range(50)]})
    await v2.ok("collections/create", {
        "collectionName": "fz_bits",
        "schema": {"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                              {"fieldName": "bits", "dataType": "BinaryVector", "elementTypeParams": {"dim": 16}}]},
        "indexParams": [{"fieldName": "bits", "metricType": "HAMMING", "indexType": "BIN_FLAT"}],
    })
    bits = [{"id": i, "bits": base64.b64encode(rng.bytes(2)).decode()} for i in range(50)]
    await v2.ok("entities/insert", {"collectionName": "fz_bits", "data": bits})
    await v2.ok("aliases/create", {"collectionName": "fz_rich", "aliasName": "fz_alias"})
    return {"collectionName": ["fz_rich", "fz_keys", "fz_bits", "fz_alias"], "partitionName": ["_default"],
            "indexName": ["vec", "title"]}


async def managed_fixtures(http: aiohttp.ClientSession, cluster: TestCluster) -> dict[str, list[Any]]:
    api = ManagedApi(http, cluster.http_url, token=ROOT)
    directory_id = await api.directory("fuzzed")
    placed = await api.upload(directory_id, "notes.txt", b"The harbour master rings the bell at noon.\n")
    config = await api.ok("POST", "/beta/configurations", json={"name": "fz", "parameters": {
        "product_type": "parse_v2", "tier": "fast", "version": "latest"}})
    index = await api.index(directory_id)
    await api.wait_synced(index["id"])
    return {"directory_id": [directory_id], "source_directory_id": [directory_id],
            "directory_file_id": [placed["id"]], "source_id": [placed["id"]], "file_id": [placed["file_id"]],
            "index_id": [index["id"]], "config_id": [config["id"]], "product_config_id": [config["id"]]}


def command(document_url: str, base_url: str, report: Path, auth: bool) -> list[str]:
    return [
        SCHEMATHESIS, "run", document_url, "--url", base_url,
        *(["--header", f"Authorization: Bearer {ROOT}"] if auth else []),
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing", "--mode", "all",
        # One worker: the three surfaces' runs already keep both cores busy, and Hypothesis
        # describing strategies from several threads at once trips CPython 3.11's AST
        # recursion check ("AST constructor recursion depth mismatch").
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--request-timeout", str(REQUEST_TIMEOUT_S), "--generation-database", "none",
        "--no-color", "--output-truncate", "true", "--report", "json", "--report-json-path", str(report),
    ]


async def run(argv: list[str], fixtures: dict[str, list[Any]], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", FIXTURES_ENV: orjson.dumps(fixtures).decode(),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


async def requests_served(http: aiohttp.ClientSession, cluster: TestCluster) -> dict[str, int]:
    """The proxy's request counter, by status class ("2xx", "4xx", "5xx"...)."""
    counted: dict[str, int] = {}
    for line in (await cluster.metrics(http, "proxy")).splitlines():
        if line.startswith("quiver_http_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            status = labels.split('status="', 1)[1][0] + "xx"
            counted[status] = counted.get(status, 0) + int(float(value))
    return counted


@pytest.mark.timeout(600)  # about 2 minutes alone on two cores; a hung request fails within REQUEST_TIMEOUT_S
async def test_ten_thousand_generated_requests_get_no_5xx_and_no_hang(
    fuzzed: TestCluster, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fixtures = {**await v1_fixtures(http, fuzzed), **await v2_fixtures(http, fuzzed),
                **await managed_fixtures(http, fuzzed)}
    before = await requests_served(http, fuzzed)
    surfaces = {
        "milvus-v1": (f"{fuzzed.v1_url}/openapi.json", fuzzed.v1_url, False),
        "milvus-v2": (f"{fuzzed.http_url}/v2/vectordb/openapi.json", fuzzed.http_url, True),
        "managed": (f"{fuzzed.http_url}/api/v1/openapi.json", fuzzed.http_url, True),
    }
    argvs = {name: command(doc, base, tmp_path / f"{name}.json", auth) for name, (doc, base, auth) in surfaces.items()}
    results = await asyncio.gather(*(run(argv, fixtures, tmp_path) for argv in argvs.values()))
    after = await requests_served(http, fuzzed)

    generated = 0
    for (name, argv), (code, output) in zip(argvs.items(), results):
        report = orjson.loads((tmp_path / f"{name}.json").read_bytes())
        generated += report["test_cases"]["generated"]
        assert code == 0 and not report["failures"] and not report["errors"], (
            f"{name}: {' '.join(argv)}\n{output[-20000:]}\n{fuzzed.log_tail()}"
        )
    served = {status: after.get(status, 0) - before.get(status, 0) for status in after}
    print(f"generated {generated} test cases; the proxy answered {served}")
    assert generated >= 10_000
    assert sum(served.values()) >= 10_000
    assert served.get("5xx", 0) == 0
