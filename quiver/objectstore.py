"""Object storage: where sealed segments, delete bitmaps and index files live.

One async interface over an S3-compatible bucket (SeaweedFS, MinIO, AWS S3) and a local
directory (`file:///...`: standalone mode, development), both through obstore, whose requests
run on its own Rust runtime and never block the event loop.

Every call is bounded in time: an outage (connection refused, 5xx, a stalled transfer) raises
ObjectStoreUnavailable naming the store within a few seconds, and callers retry on their own
schedule. Writes are atomic: a reader sees the whole new object or the old one, never part.

Keys are '/'-separated relative paths ("segments/12/rows.arrow"); a prefix in the store's URL is
prepended transparently. `list(prefix)` treats the prefix as a directory: "a/b" lists "a/b/c",
not "a/bc".
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError
from obstore.store import LocalStore, S3Store

from quiver.config import env
from quiver.errors import ErrorCode, QuiverError
from quiver.metrics import OBJECT_STORE_BYTES, OBJECT_STORE_REQUESTS, OBJECT_STORE_SECONDS

# An unreachable store fails fast (refused: at once; silent: after the connect timeout), and a
# server that stops answering fails after the read timeout; the total timeout only bounds one
# whole request, which for a big segment read in one GET is minutes.
CONNECT_TIMEOUT = timedelta(seconds=2)
READ_TIMEOUT = timedelta(seconds=5)
# The read timeout also runs while a request body goes up, as nothing comes back until the
# server answered: uploads get longer, or a part crawling through a busy link (measured: 64
# parts of 8 MB at once into SeaweedFS on 2 cores) would fail for nothing. Not retried: PUTs
# are retried on connection errors and 5xx only.
UPLOAD_READ_TIMEOUT = timedelta(seconds=30)
REQUEST_TIMEOUT = timedelta(minutes=10)
# Connection errors, 5xx and timeouts of reads are retried inside obstore, but only briefly:
# a longer outage is the caller's to wait out.
RETRIES = 2
RETRY_TIMEOUT = timedelta(seconds=4)
RETRY_BACKOFF = {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=1), "base": 2}

PART_SIZE = 8 * 1024 * 1024  # multipart uploads above this size, in parts of it
PARTS_IN_FLIGHT = 8
STREAM_CHUNK = 8 * 1024 * 1024  # get_to_file holds at most about this much in memory
COPY_BUFFER = 8 * 1024 * 1024

_STATUS_4XX = re.compile(r"status code: 4\d\d")
# obstore's local store writes through temporary files named NAME#DIGITS and its listings skip
# them: our own writes to a local store use the same names, so no reader lists them either, and
# no key may look like one.
_TEMPORARY_NAME = re.compile(r"#\d+$")


@dataclass(frozen=True)
class ObjectStoreConfig:
    url: str  # "s3://BUCKET" or "s3://BUCKET/PREFIX", or "file:///abs/dir" (local directory store)
    endpoint: str = ""  # S3 endpoint URL, e.g. http://127.0.0.1:8333 (empty: AWS default)
    region: str = "us-east-1"
    access_key: str = ""  # empty: from AWS_ACCESS_KEY_ID / the environment as usual
    secret_key: str = ""


def add_object_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--object-store",
        default=env("OBJECT_STORE", ""),
        help="where sealed segments and index files live: s3://BUCKET[/PREFIX] or file:///ABSOLUTE/DIR",
    )
    parser.add_argument(
        "--s3-endpoint",
        default=env("S3_ENDPOINT", ""),
        help="S3 endpoint URL, e.g. http://127.0.0.1:8333 (default: AWS)",
    )
    parser.add_argument("--s3-region", default=env("S3_REGION", "us-east-1"))
    parser.add_argument(
        "--s3-access-key",
        default=env("S3_ACCESS_KEY", os.environ.get("AWS_ACCESS_KEY_ID", "")),
        help="prefer the environment (QUIVER_S3_ACCESS_KEY or AWS_ACCESS_KEY_ID): flags show in `ps`",
    )
    parser.add_argument(
        "--s3-secret-key",
        default=env("S3_SECRET_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "")),
        help="prefer the environment (QUIVER_S3_SECRET_KEY or AWS_SECRET_ACCESS_KEY): flags show in `ps`",
    )


def object_store_config(args: argparse.Namespace) -> ObjectStoreConfig:
    return ObjectStoreConfig(
        url=args.object_store,
        endpoint=args.s3_endpoint,
        region=args.s3_region,
        access_key=args.s3_access_key,
        secret_key=args.s3_secret_key,
    )


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStoreError(QuiverError):
    """A failed object store operation that waiting will not fix (or a bad configuration)."""


class ObjectStoreUnavailable(ObjectStoreError):
    """The store did not answer, or answered with a server error: worth retrying later."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


class ObjectNotFound(ObjectStoreError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.SEGMENT_NOT_FOUND, message)


class ObjectStore:
    def __init__(
        self, store: S3Store | LocalStore, description: str, *, uploads: S3Store | None = None,
        local_root: Path | None = None,
    ) -> None:
        self._store = store
        self.description = description
        # S3 only: the same bucket, with the longer read timeout of uploads.
        self._uploads = uploads
        # A local directory store only: its writes are ours (temporary file, fsync, rename), as
        # obstore's local store does not fsync.
        self._local_root = local_root

    @classmethod
    def open(cls, cfg: ObjectStoreConfig) -> ObjectStore:
        url = urlsplit(cfg.url)
        if url.scheme == "s3" and url.netloc:
            return cls._open_s3(cfg, bucket=url.netloc, prefix=url.path.strip("/"))
        if url.scheme == "file" and url.netloc in ("", "localhost") and url.path.startswith("/"):
            root = Path(url.path)
            return cls(LocalStore(root, mkdir=True), root.as_uri(), local_root=root)
        raise ObjectStoreError(
            ErrorCode.INVALID_PARAMETER,
            f"object store URL {cfg.url!r} is not supported: use s3://BUCKET[/PREFIX] or file:///ABSOLUTE/DIR "
            "(--object-store, QUIVER_OBJECT_STORE)",
        )

    @classmethod
    def _open_s3(cls, cfg: ObjectStoreConfig, bucket: str, prefix: str) -> ObjectStore:
        where = f" at {cfg.endpoint}" if cfg.endpoint else f" (AWS {cfg.region})"
        description = f"s3://{bucket}{'/' + prefix if prefix else ''}{where}"
        settings: dict[str, str] = {"region": cfg.region}
        if cfg.endpoint:
            settings["endpoint"] = cfg.endpoint
        if cfg.access_key:
            settings["access_key_id"] = cfg.access_key
            settings["secret_access_key"] = cfg.secret_key

        def s3_store(read_timeout: timedelta) -> S3Store:
            return S3Store(
                bucket,
                prefix=prefix or None,
                config=settings,
                client_options={
                    "allow_http": cfg.endpoint.startswith("http://"),
                    "connect_timeout": CONNECT_TIMEOUT,
                    "read_timeout": read_timeout,
                    "timeout": REQUEST_TIMEOUT,
                },
                retry_config={"max_retries": RETRIES, "retry_timeout": RETRY_TIMEOUT, "backoff": RETRY_BACKOFF},
            )

        return cls(s3_store(READ_TIMEOUT), description, uploads=s3_store(UPLOAD_READ_TIMEOUT))

    async def check(self) -> None:
        """The start-up check: the bucket (or directory) exists and takes writes."""
        key = f"_quiver_check/{uuid.uuid4().hex}"
        payload = secrets.token_bytes(64)
        step = "write a probe object"
        try:
            await self.put(key, payload)
            step = "read back the probe object"
            if await self.get(key) != payload:
                raise ObjectStoreError(ErrorCode.UNEXPECTED, f"object store {self.description}: get {key!r} "
                                       "read back other bytes than were written")
            step = "delete the probe object"
            await self.delete([key])
        except ObjectStoreError as error:
            raise ObjectStoreUnavailable(f"{error.message} (start-up check: could not {step})") from error

    async def put(self, key: str, data: bytes | memoryview) -> None:
        with self._operation("put", key):
            _check_key(key)
            if self._local_root is not None:
                await asyncio.to_thread(_write_atomically, self._local_root / key, lambda out: out.write(data))
            else:
                await obstore.put_async(
                    self._uploads, key, data, chunk_size=PART_SIZE, max_concurrency=PARTS_IN_FLIGHT
                )
        OBJECT_STORE_BYTES.labels("put").inc(memoryview(data).nbytes)

    async def put_file(self, key: str, path: Path) -> None:
        """Uploads a local file (in parts when big); the object appears whole or not at all."""
        with self._operation("put_file", key):
            _check_key(key)
            if self._local_root is not None:
                await asyncio.to_thread(_copy_atomically, path, self._local_root / key)
            else:
                await obstore.put_async(
                    self._uploads, key, path, chunk_size=PART_SIZE, max_concurrency=PARTS_IN_FLIGHT
                )
            size = await asyncio.to_thread(lambda: path.stat().st_size)
        OBJECT_STORE_BYTES.labels("put").inc(size)

    async def get(self, key: str) -> bytes:
        with self._operation("get", key):
            _check_key(key)
            result = await obstore.get_async(self._store, key)
            data = await result.bytes_async()
        OBJECT_STORE_BYTES.labels("get").inc(len(data))
        return data.to_bytes()

    async def get_to_file(self, key: str, path: Path) -> None:
        """Streams the object to `path` (a temporary name, fsync, then rename): at most one
        chunk of it is in memory, and `path` is either the old file or the whole new one."""
        with self._operation("get_to_file", key):
            _check_key(key)
            result = await obstore.get_async(self._store, key)
            out, temporary = await asyncio.to_thread(_open_temporary, path)
            try:
                async for chunk in result.stream(min_chunk_size=STREAM_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    OBJECT_STORE_BYTES.labels("get").inc(len(chunk))
                await asyncio.to_thread(_publish, out, temporary, path)
            except BaseException:
                await asyncio.to_thread(_discard, out, temporary)
                raise

    async def exists(self, key: str) -> bool:
        with self._operation("exists", key):
            _check_key(key)
            try:
                await obstore.head_async(self._store, key)
            except FileNotFoundError as error:
                if _missing_bucket(error):
                    raise
                return False
            return True

    async def delete(self, keys: list[str]) -> None:
        """Deletes the objects; a key with no object is not an error."""
        if not keys:
            return
        with self._operation("delete", keys[0] if len(keys) == 1 else f"{keys[0]} and {len(keys) - 1} more"):
            for key in keys:
                _check_key(key)
            if self._local_root is not None:
                await asyncio.to_thread(_unlink_all, [self._local_root / key for key in keys])
            else:
                # S3's DeleteObjects: a missing key counts as deleted.
                await obstore.delete_async(self._store, keys)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        """The objects under the directory `prefix` ("" for all), in no particular order."""
        found: list[ObjectInfo] = []
        with self._operation("list", prefix):
            async for batch in obstore.list(self._store, prefix.strip("/") or None, chunk_size=1000):
                found.extend(ObjectInfo(meta["path"], meta["size"], meta["last_modified"]) for meta in batch)
        return found

    @contextmanager
    def _operation(self, op: str, key: str) -> Iterator[None]:
        """Counts and times one operation, and turns whatever failed into an ObjectStoreError
        that names this store, the operation and the key."""
        started = time.perf_counter()
        try:
            yield
        except Exception as error:
            failure = self._failure(error, op, key)
            OBJECT_STORE_REQUESTS.labels(op, _outcome(failure)).inc()
            raise failure from error
        else:
            OBJECT_STORE_REQUESTS.labels(op, "ok").inc()
        finally:
            OBJECT_STORE_SECONDS.labels(op).observe(time.perf_counter() - started)

    def _failure(self, error: Exception, op: str, key: str) -> ObjectStoreError:
        if isinstance(error, ObjectStoreError):
            return error
        what = f"object store {self.description}: {op} {key!r}"
        cause = _first_line(error)
        if isinstance(error, FileNotFoundError) and _missing_bucket(error):
            return ObjectStoreError(ErrorCode.UNEXPECTED, f"{what}: the bucket does not exist ({cause})")
        if isinstance(error, FileNotFoundError) and op in ("get", "get_to_file"):
            return ObjectNotFound(f"{what}: no such object")
        if isinstance(error, ValueError):  # a key that is no relative path
            return ObjectStoreError(ErrorCode.INVALID_PARAMETER, f"{what}: {cause}")
        if isinstance(error, OSError) and not isinstance(error, TimeoutError | ConnectionError):
            # A local file (a local store's, or the one put_file reads / get_to_file writes).
            full = error.errno in (errno.ENOSPC, errno.EDQUOT)
            return ObjectStoreError(ErrorCode.STORAGE_FULL if full else ErrorCode.UNEXPECTED, f"{what}: {cause}")
        if isinstance(error, PermissionDeniedError | UnauthenticatedError):
            return ObjectStoreError(ErrorCode.UNEXPECTED, f"{what}: the credentials were refused ({cause})")
        if _STATUS_4XX.search(cause):
            return ObjectStoreError(ErrorCode.UNEXPECTED, f"{what}: {cause}")
        # Refused or dropped connections, timeouts, 5xx: obstore already retried briefly.
        return ObjectStoreUnavailable(f"object store {self.description} is unavailable: {op} {key!r}: {cause}")


def _outcome(failure: ObjectStoreError) -> str:
    if isinstance(failure, ObjectNotFound):
        return "not_found"
    return "unavailable" if isinstance(failure, ObjectStoreUnavailable) else "error"


def _missing_bucket(error: FileNotFoundError) -> bool:
    return "NoSuchBucket" in str(error)


def _first_line(error: Exception) -> str:
    """obstore's messages end in a multi-line debug dump after the first line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_key(key: str) -> None:
    """The same keys on every store: relative paths that stay below the root (of a directory
    store too) and that no listing hides."""
    if not key or any(part in ("", ".", "..") for part in key.split("/")) or _TEMPORARY_NAME.search(key):
        raise ValueError(f"{key!r} is not an object key (a relative path like 'segments/1/rows.arrow')")


# Local files, on a worker thread (never on the event loop).


def _write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """A local store's write: a temporary file beside the target, fsynced, renamed over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}#{secrets.randbelow(10**12)}")
    try:
        with open(temporary, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _copy_atomically(source: Path, target: Path) -> None:
    with open(source, "rb") as src:
        _write_atomically(target, lambda out: shutil.copyfileobj(src, out, COPY_BUFFER))


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _open_temporary(path: Path) -> tuple[BinaryIO, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    return open(temporary, "wb"), temporary


def _publish(out: BinaryIO, temporary: Path, path: Path) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _discard(out: BinaryIO, temporary: Path) -> None:
    out.close()
    temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Makes a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
