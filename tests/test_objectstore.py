"""The object storage layer (quiver/objectstore.py) against a local directory and a real S3
server (SeaweedFS): every behaviour the roles rely on holds on both, and an S3 outage surfaces
as a retriable error naming the store within seconds."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store
from prometheus_client import REGISTRY

from quiver.errors import ErrorCode
from quiver.objectstore import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreConfig,
    ObjectStoreError,
    ObjectStoreUnavailable,
    add_object_store_args,
    object_store_config,
)
from quiver.standalone import LOOPBACK, free_port
from tests.seaweedfs import SeaweedFS

BUCKET = "quiver"
MB = 1024 * 1024
OUTAGE_BOUND_S = 15.0


@pytest.fixture(scope="module")
async def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), bucket=BUCKET)
    try:
        await server.start()
        yield server
    except BaseException:
        print(server.log_tail())
        raise
    finally:
        await server.stop()


@pytest.fixture(params=["local", "s3"])
def store_config(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStoreConfig:
    """An empty store of its own for each test: a fresh directory, or a fresh prefix in the bucket."""
    if request.param == "local":
        return ObjectStoreConfig(url=(tmp_path / "objects").as_uri())
    server: SeaweedFS = request.getfixturevalue("seaweedfs")
    return replace(server.config(BUCKET), url=f"s3://{BUCKET}/test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(store_config: ObjectStoreConfig) -> ObjectStore:
    return ObjectStore.open(store_config)


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MB):
            sha.update(chunk)
    return sha.hexdigest()


async def test_put_get_round_trip(store: ObjectStore) -> None:
    await store.put("segments/1/meta.json", b'{"rows": 3}')
    await store.put("segments/1/deletes.bin", memoryview(b"\x00\x01\x00"))
    assert await store.get("segments/1/meta.json") == b'{"rows": 3}'
    assert await store.get("segments/1/deletes.bin") == b"\x00\x01\x00"
    await store.put("empty", b"")
    assert await store.get("empty") == b""


def keys_and_sizes(found: list[ObjectInfo]) -> set[tuple[str, int]]:
    return {(f.key, f.size) for f in found}


async def test_big_file_round_trip_streams_to_a_file(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "rows.arrow"
    with open(source, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(MB))
    await store.put_file("segments/7/rows.arrow", source)
    assert keys_and_sizes(await store.list("segments/7")) == {("segments/7/rows.arrow", 50 * MB)}

    cache = tmp_path / "cache"
    target = cache / "7" / "rows.arrow"
    await store.get_to_file("segments/7/rows.arrow", target)
    assert digest(target) == digest(source)
    assert os.listdir(target.parent) == ["rows.arrow"]  # no temporary file left behind

    await store.put_file("segments/7/rows.arrow", tmp_path / "rows.arrow")  # overwrite: the same
    await store.get_to_file("segments/7/rows.arrow", target)  # over an existing file
    assert digest(target) == digest(source)


async def test_big_file_goes_up_in_parts(seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    """put_file of 50 MB is a multipart upload: S3 gives such an object an ETag ending -PARTS."""
    cfg = seaweedfs.config(BUCKET)
    source = tmp_path / "big"
    source.write_bytes(os.urandom(50 * MB))
    key = f"multipart/{uuid.uuid4().hex}"
    await ObjectStore.open(cfg).put_file(key, source)
    raw = S3Store(BUCKET, endpoint=cfg.endpoint, access_key_id=cfg.access_key,
                  secret_access_key=cfg.secret_key, region=cfg.region, client_options={"allow_http": True})
    head = await obstore.head_async(raw, key)
    assert head["size"] == 50 * MB
    assert head["e_tag"] is not None and head["e_tag"].strip('"').endswith("-7"), head["e_tag"]  # 8 MB parts


async def test_overwrite_is_atomic(store: ObjectStore) -> None:
    """Readers racing an overwrite see the old object or the new one, whole, never a mix."""
    old, new = b"a" * (12 * MB), b"b" * (9 * MB)
    await store.put("index/hnsw.bin", old)
    seen: set[int] = set()
    writing = True

    async def read_until_written() -> None:
        while writing:
            data = await store.get("index/hnsw.bin")
            assert data in (old, new), f"a torn read of {len(data)} bytes"
            seen.add(len(data))

    readers = [asyncio.create_task(read_until_written()) for _ in range(3)]
    for payload in (new, old, new):
        await store.put("index/hnsw.bin", payload)
        await asyncio.sleep(0.05)
    writing = False
    await asyncio.gather(*readers)
    assert await store.get("index/hnsw.bin") == new
    assert seen == {len(old), len(new)}  # the readers did overlap the writes


async def test_list_by_prefix(store: ObjectStore) -> None:
    for key, size in [("seg/1/rows", 5), ("seg/1/deletes", 2), ("seg/10/rows", 7), ("other/x", 1)]:
        await store.put(key, b"x" * size)
    expected = {("seg/1/rows", 5), ("seg/1/deletes", 2)}
    assert keys_and_sizes(await store.list("seg/1")) == expected  # a directory: not seg/10
    assert keys_and_sizes(await store.list("seg/1/")) == expected
    assert all(abs(datetime.now(UTC) - f.last_modified) < timedelta(minutes=5) for f in await store.list(""))
    assert {found.key for found in await store.list("seg")} == {"seg/1/rows", "seg/1/deletes", "seg/10/rows"}
    assert len(await store.list("")) == 4
    assert await store.list("nothing/here") == []


async def test_delete_ignores_missing_keys(store: ObjectStore) -> None:
    await store.put("a/1", b"1")
    await store.put("a/2", b"2")
    await store.delete(["a/1", "a/never-written", "b/never-written"])
    assert [found.key for found in await store.list("a")] == ["a/2"]
    await store.delete(["a/1"])  # again
    await store.delete([])
    assert await store.get("a/2") == b"2"


async def test_exists(store: ObjectStore) -> None:
    await store.put("a/here", b"1")
    assert await store.exists("a/here")
    assert not await store.exists("a/absent")
    assert not await store.exists("a")  # a directory is no object
    await store.delete(["a/here"])
    assert not await store.exists("a/here")


async def test_missing_object(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        await store.get("segments/404/rows.arrow")
    assert raised.value.code == ErrorCode.SEGMENT_NOT_FOUND and not raised.value.retriable
    assert "segments/404/rows.arrow" in raised.value.message and store.description in raised.value.message

    target = tmp_path / "cache" / "rows.arrow"
    with pytest.raises(ObjectNotFound):
        await store.get_to_file("segments/404/rows.arrow", target)
    assert not target.exists()


async def test_url_prefix_is_transparent(store_config: ObjectStoreConfig) -> None:
    outer = ObjectStore.open(store_config)
    inner = ObjectStore.open(replace(store_config, url=store_config.url + "/cluster-a/v1"))
    await inner.put("segments/1/rows", b"rows")
    assert keys_and_sizes(await inner.list("segments")) == {("segments/1/rows", 4)}
    assert await inner.exists("segments/1/rows")
    assert await outer.get("cluster-a/v1/segments/1/rows") == b"rows"
    assert [found.key for found in await outer.list("")] == ["cluster-a/v1/segments/1/rows"]


async def test_check_passes_and_leaves_nothing(store: ObjectStore) -> None:
    await store.check()
    assert await store.list("") == []


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "a//b", "a/./b", "a/b/", "staged#123"])
async def test_keys_are_relative_paths(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectStoreError) as raised:
        await store.put(key, b"1")
    assert raised.value.code == ErrorCode.INVALID_PARAMETER
    assert await store.list("") == []


async def test_outage_is_unavailable_then_recovers(seaweedfs: SeaweedFS) -> None:
    store = ObjectStore.open(seaweedfs.config(BUCKET))
    key = f"outage/{uuid.uuid4().hex}"
    await store.put(key, b"before the crash")
    await seaweedfs.kill()
    try:
        for attempt in (store.put(key + "-after", b"x"), store.get(key), store.list("outage")):
            started = time.monotonic()
            with pytest.raises(ObjectStoreUnavailable) as raised:
                await attempt
            assert time.monotonic() - started < OUTAGE_BOUND_S
            assert raised.value.retriable and raised.value.code == ErrorCode.UNAVAILABLE
            assert seaweedfs.endpoint in raised.value.message
    finally:
        await seaweedfs.restart()
    assert await store.get(key) == b"before the crash"
    await store.put(key + "-after", b"x")
    assert await store.exists(key + "-after")


async def test_hung_server_is_unavailable_within_bounds(seaweedfs: SeaweedFS) -> None:
    """A server that accepts connections and never answers (stopped, not dead) times out."""
    store = ObjectStore.open(seaweedfs.config(BUCKET))
    os.kill(seaweedfs.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(ObjectStoreUnavailable) as raised:
            await store.get("anything")
        assert time.monotonic() - started < OUTAGE_BOUND_S
        assert seaweedfs.endpoint in raised.value.message
    finally:
        os.kill(seaweedfs.pid, signal.SIGCONT)
    await store.check()


async def test_check_names_a_wrong_endpoint(seaweedfs: SeaweedFS) -> None:
    nobody = f"http://{LOOPBACK}:{free_port()}"
    store = ObjectStore.open(replace(seaweedfs.config(BUCKET), endpoint=nobody))
    with pytest.raises(ObjectStoreUnavailable) as raised:
        await store.check()
    assert nobody in raised.value.message and f"s3://{BUCKET}" in raised.value.message
    assert "probe object" in raised.value.message  # what was tried


async def test_check_names_a_missing_bucket(seaweedfs: SeaweedFS) -> None:
    store = ObjectStore.open(seaweedfs.config("no-such-bucket"))
    with pytest.raises(ObjectStoreUnavailable) as raised:
        await store.check()
    assert "s3://no-such-bucket" in raised.value.message and "bucket does not exist" in raised.value.message


async def test_check_refuses_wrong_credentials(seaweedfs: SeaweedFS) -> None:
    store = ObjectStore.open(replace(seaweedfs.config(BUCKET), secret_key="not-the-secret"))
    with pytest.raises(ObjectStoreUnavailable) as raised:
        await store.check()
    assert seaweedfs.endpoint in raised.value.message
    assert isinstance(raised.value.__cause__, ObjectStoreError) and not raised.value.__cause__.retriable


async def test_check_of_a_local_directory_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    store = ObjectStore.open(ObjectStoreConfig(url=(tmp_path / "objects").as_uri()))
    os.rmdir(tmp_path / "objects")
    (tmp_path / "objects").symlink_to(blocker)  # the store's directory is a file now
    with pytest.raises(ObjectStoreUnavailable) as raised:
        await store.check()
    assert str(tmp_path / "objects") in raised.value.message


@pytest.mark.parametrize("url", ["ftp://host/dir", "file://relative/dir", "s3://", "s3:/bucket", "/abs/dir", ""])
def test_bad_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ObjectStoreError) as raised:
        ObjectStore.open(ObjectStoreConfig(url=url))
    assert raised.value.code == ErrorCode.INVALID_PARAMETER
    assert repr(url) in raised.value.message and "s3://BUCKET" in raised.value.message


def test_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIVER_OBJECT_STORE", "s3://segments/prod")
    monkeypatch.setenv("QUIVER_S3_ENDPOINT", "http://seaweedfs:8333")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-aws-env")
    monkeypatch.setenv("QUIVER_S3_SECRET_KEY", "from-quiver-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "loses-to-quiver-env")
    parser = argparse.ArgumentParser()
    add_object_store_args(parser)
    assert object_store_config(parser.parse_args([])) == ObjectStoreConfig(
        url="s3://segments/prod", endpoint="http://seaweedfs:8333", region="us-east-1",
        access_key="from-aws-env", secret_key="from-quiver-env",
    )
    args = parser.parse_args(["--object-store", "file:///data/objects", "--s3-region", "eu-west-1"])
    assert object_store_config(args).url == "file:///data/objects"
    assert object_store_config(args).region == "eu-west-1"


async def test_operations_are_counted(store: ObjectStore) -> None:
    def count(op: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("quiver_object_store_requests_total", {"op": op, "outcome": outcome}) or 0.0

    def moved(op: str) -> float:
        return REGISTRY.get_sample_value("quiver_object_store_bytes_total", {"op": op}) or 0.0

    puts, misses, bytes_in = count("put", "ok"), count("get", "not_found"), moved("put")
    await store.put("counted", b"12345")
    with pytest.raises(ObjectNotFound):
        await store.get("not-there")
    assert count("put", "ok") == puts + 1
    assert count("get", "not_found") == misses + 1
    assert moved("put") == bytes_in + 5
