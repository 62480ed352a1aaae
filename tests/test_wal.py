"""The write-ahead log: durable before acknowledged, group commit, torn tails, truncation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from datanode import wal as wal_module
from datanode.wal import RecordKind, WriteAheadLog


async def append_all(log: WriteAheadLog, bodies: list[bytes]) -> list[int]:
    submitted = [log.submit(RecordKind.INSERT, [body]) for body in bodies]
    await asyncio.gather(*(future for _, future in submitted))
    return [lsn for lsn, _ in submitted]


async def test_records_come_back_in_order_after_reopen(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    assert log.open() == []
    bodies = [f"record {i}".encode() * (i + 1) for i in range(50)]
    lsns = await append_all(log, bodies)
    assert lsns == list(range(1, 51))
    log.close()

    reopened = WriteAheadLog(tmp_path)
    records = reopened.open()
    assert [r.body for r in records] == bodies
    assert [r.lsn for r in records] == lsns
    assert reopened.next_lsn == 51
    reopened.close()


async def test_concurrent_appends_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = 0
    real_sync = os.fdatasync

    def counting_sync(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        real_sync(fd)

    monkeypatch.setattr(wal_module.os, "fdatasync", counting_sync)
    log = WriteAheadLog(tmp_path)
    log.open()
    await append_all(log, [b"x" * 1000] * 200)
    log.close()
    assert 1 <= syncs < 200, f"{syncs} fsyncs for 200 concurrent appends: no group commit"


@pytest.mark.parametrize("cut", [1, 5, 17, 30])
async def test_torn_tail_is_cut_and_earlier_records_kept(tmp_path: Path, cut: int) -> None:
    log = WriteAheadLog(tmp_path)
    log.open()
    await append_all(log, [b"a" * 40, b"b" * 40, b"c" * 40])
    log.close()
    (path,) = log.files()
    size = path.stat().st_size
    with open(path, "r+b") as f:  # power loss in the middle of the last record
        f.truncate(size - cut)

    reopened = WriteAheadLog(tmp_path)
    records = reopened.open()
    assert [r.body for r in records] == [b"a" * 40, b"b" * 40]
    lsn, durable = reopened.submit(RecordKind.DELETE, [b"d"])
    await durable
    assert lsn == 3
    reopened.close()
    again = WriteAheadLog(tmp_path)
    assert [r.body for r in again.open()] == [b"a" * 40, b"b" * 40, b"d"]
    again.close()


async def test_corrupt_record_stops_replay_at_the_last_valid_one(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    log.open()
    await append_all(log, [b"first", b"second", b"third"])
    log.close()
    (path,) = log.files()
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF  # a flipped bit in the last record's body fails its CRC
    path.write_bytes(bytes(data))
    reopened = WriteAheadLog(tmp_path)
    assert [r.body for r in reopened.open()] == [b"first", b"second"]
    reopened.close()


async def test_rotation_and_removal_of_files_behind_the_checkpoint(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path, rotate_bytes=100)
    log.open()
    for i in range(10):  # each record fills a file past its limit: the next starts a new one
        await append_all(log, [bytes([i]) * 150])
    assert len(log.files()) == 10
    assert log.remove_before(6) == 5  # files holding LSNs 1..5 are no longer needed
    log.close()
    reopened = WriteAheadLog(tmp_path)
    assert [r.lsn for r in reopened.open()] == [6, 7, 8, 9, 10]
    reopened.close()
