"""QuarantineWriter: rejected input kept as fsync'd JSONL, one file per KST day, counted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from observer.archive.exceptions import ArchiveWriteError
from observer.archive.quarantine import QuarantineWriter
from observer.clock import ManualClock
from observer.metrics import Metrics

from .conftest import START, sample_value


async def test_lines_counted_and_split_by_day(
    tmp_path: Path, clock: ManualClock, metrics: Metrics
) -> None:
    qdir = tmp_path / "quarantine"
    writer = QuarantineWriter(qdir, clock, metrics)
    await asyncio.gather(
        *(writer.write("bad_field_count", f"H0STCNT0|garbage {i}", "H0STCNT0") for i in range(20))
    )
    await writer.write("not_utf8", b"\xff\xfe raw", None)
    clock.set(START + timedelta(days=1))
    await writer.write("bad_field_count", "next day")
    await writer.close()
    await writer.close()
    day1 = [orjson.loads(x) for x in (qdir / "quarantine_20260105.jsonl").read_bytes().splitlines()]
    assert len(day1) == 21
    assert day1[0] == {
        "ts": "2026-01-05T09:00:00.000000+09:00",
        "reason": "bad_field_count",
        "tr_id": "H0STCNT0",
        "raw": "H0STCNT0|garbage 0",
    }
    assert day1[-1]["raw"] == "\ufffd\ufffd raw" and day1[-1]["tr_id"] is None
    day2 = (qdir / "quarantine_20260106.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["raw"] for x in day2] == ["next day"]
    assert (
        sample_value(metrics, "observer_quarantined_records_total", {"reason": "bad_field_count"})
        == 21
    )
    assert writer.written == 22


async def test_write_error_is_raised_and_the_line_retried(
    tmp_path: Path, clock: ManualClock, metrics: Metrics
) -> None:
    qdir = tmp_path / "quarantine"
    qdir.mkdir()
    (qdir / "quarantine_20260105.jsonl").mkdir()  # cannot be opened as a file
    writer = QuarantineWriter(qdir, clock, metrics)
    with pytest.raises(ArchiveWriteError):
        await writer.write("bad", "first")
    (qdir / "quarantine_20260105.jsonl").rmdir()
    await writer.write("bad", "second")
    await writer.close()
    raws = [
        orjson.loads(x)["raw"]
        for x in (qdir / "quarantine_20260105.jsonl").read_bytes().splitlines()
    ]
    assert raws == ["first", "second"]


async def test_a_torn_line_left_by_power_loss_is_cut_before_appending(
    tmp_path: Path, clock: ManualClock, metrics: Metrics
) -> None:
    qdir = tmp_path / "quarantine"
    qdir.mkdir()
    path = qdir / "quarantine_20260105.jsonl"
    path.write_bytes(b'{"ts":"x","reason":"a","tr_id":null,"raw":"ok"}\n{"ts":"2026-01-05T0')
    writer = QuarantineWriter(qdir, clock, metrics)
    await writer.write("bad", "after")
    await writer.close()
    assert [orjson.loads(x)["raw"] for x in path.read_bytes().splitlines()] == ["ok", "after"]
