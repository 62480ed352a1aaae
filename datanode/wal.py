"""The data node's write-ahead log.

Every insert and delete is framed, appended and fsynced here before it is acknowledged.
Concurrent appends share one fsync (group commit): the event loop only assigns the record its
log sequence number (LSN) and queues it; a writer thread writes everything queued, syncs once,
and resolves the waiting futures in LSN order.

Frame: u32 body length, u32 CRC-32 of (lsn, kind, body), u64 lsn, u8 kind, body.
Files are named by the LSN of their first record and rotated at `rotate_bytes`. A torn or
corrupt tail (power loss mid-write) is detected by length and CRC on open and cut off: every
record before it is kept.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from quiver import metrics

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IIQB")
_LSN_KIND = struct.Struct("<QB")
SUFFIX = ".wal"


class RecordKind(IntEnum):
    INSERT = 1
    DELETE = 2


@dataclass(frozen=True)
class Record:
    lsn: int
    kind: RecordKind
    body: bytes


@dataclass
class _Pending:
    lsn: int
    frame: list[bytes]
    future: asyncio.Future[None]


def encode(lsn: int, kind: RecordKind, parts: list[bytes]) -> list[bytes]:
    crc = zlib.crc32(_LSN_KIND.pack(lsn, kind))
    length = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
        length += len(part)
    return [HEADER.pack(length, crc, lsn, kind), *parts]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_file(path: Path) -> tuple[list[Record], int]:
    """The valid records of one file, and the offset where valid data ends."""
    data = path.read_bytes()
    records: list[Record] = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc, lsn, kind = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if end > len(data):
            break
        body = data[offset + HEADER.size : end]
        if zlib.crc32(body, zlib.crc32(_LSN_KIND.pack(lsn, kind))) != crc or kind not in (1, 2):
            break
        records.append(Record(lsn, RecordKind(kind), body))
        offset = end
    return records, offset


class WriteAheadLog:
    def __init__(self, directory: Path, rotate_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self.next_lsn = 1
        self._file_starts: list[int] = []  # first LSN of each file, oldest first
        self._file: io.FileIO | None = None
        self._fd = -1
        self._size = 0
        self._pending: list[_Pending] = []
        self._cond = threading.Condition()  # guards _pending and _closing
        self._files_lock = threading.Lock()  # guards _file_starts (writer thread rotates)
        self._closing = False
        self._thread: threading.Thread | None = None

    # -- opening and replay -------------------------------------------------------------------

    def open(self) -> list[Record]:
        """Reads back every valid record (oldest first) and opens a fresh file for appends."""
        self.directory.mkdir(parents=True, exist_ok=True)
        records: list[Record] = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            found, valid_end = _read_file(path)
            if valid_end < path.stat().st_size:
                log.warning(
                    "%s: cut %d bytes of torn or corrupt records after the last valid one",
                    path.name,
                    path.stat().st_size - valid_end,
                )
                with open(path, "r+b") as f:
                    f.truncate(valid_end)
                    os.fsync(f.fileno())
            records += found
            self._file_starts.append(int(path.stem))
            if found:
                self.next_lsn = max(self.next_lsn, found[-1].lsn + 1)
        if self._file_starts:
            self.next_lsn = max(self.next_lsn, self._file_starts[-1])
        self._open_file(self.next_lsn)
        self._thread = threading.Thread(target=self._write_loop, name="wal-writer", daemon=True)
        self._thread.start()
        return records

    def advance_to(self, lsn: int) -> None:
        """Never hand out LSNs at or below `lsn` (it is recorded in persisted segments)."""
        self.next_lsn = max(self.next_lsn, lsn + 1)

    def _open_file(self, first_lsn: int) -> None:
        path = self.directory / f"{first_lsn:020d}{SUFFIX}"
        self._file = io.FileIO(path, "ab")
        self._fd = self._file.fileno()
        self._size = os.fstat(self._fd).st_size
        with self._files_lock:
            if not self._file_starts or self._file_starts[-1] != first_lsn:
                self._file_starts.append(first_lsn)
        fsync_dir(self.directory)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- appending ----------------------------------------------------------------------------

    def submit(self, kind: RecordKind, parts: list[bytes]) -> tuple[int, asyncio.Future[None]]:
        """Queues a record; returns its LSN and a future that resolves once it is durable.

        Call from the event loop thread only: LSNs are assigned in call order.
        """
        lsn = self.next_lsn
        self.next_lsn += 1
        future = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._closing:
                raise RuntimeError("the write-ahead log is closed")
            self._pending.append(_Pending(lsn, encode(lsn, kind, parts), future))
            self._cond.notify()
        return lsn, future

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                if not batch and self._closing:
                    return
            error = self._write_batch(batch)
            loop = batch[0].future.get_loop()
            loop.call_soon_threadsafe(_resolve, batch, error)

    def _write_batch(self, batch: list[_Pending]) -> OSError | None:
        started = time.perf_counter()
        try:
            if self._size >= self.rotate_bytes:
                self._close_file()
                self._open_file(batch[0].lsn)
            start = self._size
            try:
                for item in batch:
                    for part in item.frame:
                        self._write_all(part)
                os.fdatasync(self._fd)
                metrics.WAL_FSYNC_SECONDS.observe(time.perf_counter() - started)
            except OSError:
                # Leave no partial frame behind (disk full): later appends must stay readable.
                os.ftruncate(self._fd, start)
                self._size = start
                raise
            return None
        except OSError as error:
            log.error("write-ahead log append failed: %s", error)
            return error

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written

    # -- truncation ---------------------------------------------------------------------------

    def remove_before(self, lsn: int) -> int:
        """Deletes files whose records all precede `lsn` (never the active file)."""
        removed = 0
        while True:
            with self._files_lock:
                if len(self._file_starts) < 2 or self._file_starts[1] > lsn:
                    break
                first = self._file_starts.pop(0)
            (self.directory / f"{first:020d}{SUFFIX}").unlink(missing_ok=True)
            removed += 1
        if removed:
            fsync_dir(self.directory)
        return removed

    def files(self) -> list[Path]:
        with self._files_lock:
            return [self.directory / f"{s:020d}{SUFFIX}" for s in self._file_starts]

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        self._close_file()


def _resolve(batch: list[_Pending], error: OSError | None) -> None:
    for item in batch:
        if item.future.done():
            continue
        if error is None:
            item.future.set_result(None)
        else:
            # One exception each (they gather tracebacks), keeping the errno: a full disk is
            # reported as such.
            item.future.set_exception(OSError(error.errno, f"write-ahead log append failed: {error.strerror}"))
