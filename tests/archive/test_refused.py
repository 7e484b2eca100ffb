"""A failed write becomes an ``archive_refused`` gap: a real immutable file refuses appends."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from observer.archive.exceptions import ArchiveWriteError
from observer.archive.writer import ArchiveWriter
from observer.clock import ManualClock, kst_iso
from observer.metrics import Metrics
from observer.pipeline.record import Record
from tests.archive.conftest import sample_value
from tests.waiting import wait_until


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True)


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Make a path immutable; always undone at the end of the test."""
    made: list[Path] = []

    def make(path: Path) -> None:
        chattr("+i", path)
        made.append(path)

    yield make
    for path in made:
        chattr("-i", path)


async def first_files(
    writer: ArchiveWriter, assets: Path, record_at: Callable[..., Record]
) -> tuple[Path, Path]:
    """Write one scalp and one system record; their hour files (scalp, system)."""
    await (await writer.submit(record_at("scalp", 0)))
    await (await writer.submit(record_at("system", 0)))
    return next(assets.glob("scalp_*.jsonl")), next(assets.glob("system_*.jsonl"))


def lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_refused_records_become_one_gap_per_stream(
    writer: ArchiveWriter,
    assets: Path,
    clock: ManualClock,
    metrics: Metrics,
    record_at: Callable[..., Record],
    immutable: Callable[[Path], None],
) -> None:
    scalp_file, system_file = await first_files(writer, assets, record_at)
    immutable(scalp_file)
    first_ns = clock.now_ns()
    refused = [record_at("scalp", i) for i in range(1, 4)]
    clock.advance(2)
    refused += [record_at("scalp", i) for i in range(4, 6)]
    last_ns = clock.now_ns()
    with pytest.raises(ArchiveWriteError):
        await (await writer.submit_many(refused))
    assert writer.refusals.refusing
    assert sample_value(metrics, "observer_archive_refusing") == 1
    assert sample_value(metrics, "observer_archive_refused_records_total", {"stream": "scalp"}) == 5
    chattr("-i", scalp_file)
    # nothing else is submitted: after a quiet while the writer records the refusal on its own
    writer.refusals.quiet_seconds = 0.3
    await wait_until(lambda: not writer.refusals.refusing)
    system = lines(system_file)
    gaps = [r for r in system if r["data"].get("event") == "gap"]  # type: ignore[attr-defined]
    assert len(gaps) == 1
    data = gaps[0]["data"]
    assert data["reason"] == "archive_refused" and data["stream"] == "scalp"  # type: ignore[index]
    assert data["records"] == 5 and data["scope"] == "stream"  # type: ignore[index]
    assert data["start"] == kst_iso(first_ns) and data["end"] == kst_iso(last_ns)  # type: ignore[index]
    assert "Operation not permitted" in data["error"]  # type: ignore[index]
    assert sample_value(metrics, "observer_archive_refusing") == 0
    assert sample_value(metrics, "observer_gaps_total", {"reason": "archive_refused"}) == 1
    # the seq of the stream stays continuous: refused records gave theirs back
    seq = await (await writer.submit(record_at("scalp", 9)))
    assert [r["seq"] for r in lines(scalp_file)] == [1, seq] == [1, 2]


async def test_gap_waits_while_the_archive_keeps_refusing(
    writer: ArchiveWriter,
    assets: Path,
    record_at: Callable[..., Record],
    immutable: Callable[[Path], None],
) -> None:
    """The gap record itself cannot be written while every file refuses: it is retried."""
    scalp_file, system_file = await first_files(writer, assets, record_at)
    immutable(scalp_file)
    immutable(system_file)
    with pytest.raises(ArchiveWriteError):
        await (await writer.submit(record_at("scalp", 1)))
    with pytest.raises(ArchiveWriteError):
        await (await writer.submit(record_at("scalp", 2)))
    await asyncio.sleep(0)
    assert writer.refusals.refusing
    chattr("-i", scalp_file)
    chattr("-i", system_file)
    writer.refusals.quiet_seconds = 0.3
    await wait_until(lambda: not writer.refusals.refusing)
    gaps = [r for r in lines(system_file) if r["data"].get("event") == "gap"]  # type: ignore[attr-defined]
    assert len(gaps) == 1 and gaps[0]["data"]["records"] == 2  # type: ignore[index]


async def test_write_error_calls_the_disk_guard_hook(
    writer: ArchiveWriter,
    assets: Path,
    record_at: Callable[..., Record],
    immutable: Callable[[Path], None],
) -> None:
    calls: list[int] = []
    writer.on_write_error = lambda: calls.append(1)
    await (await writer.submit(record_at("scalp", 0)))
    immutable(next(assets.glob("scalp_*.jsonl")))
    with pytest.raises(ArchiveWriteError):
        await (await writer.submit(record_at("scalp", 1)))
    assert calls == [1]


async def test_error_lines_during_an_outage_are_rate_limited(
    writer: ArchiveWriter,
    assets: Path,
    record_at: Callable[..., Record],
    immutable: Callable[[Path], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await (await writer.submit(record_at("scalp", 0)))
    immutable(next(assets.glob("scalp_*.jsonl")))
    caplog.set_level(logging.ERROR, logger="observer.archive.refusals")
    for i in range(1, 30):
        with pytest.raises(ArchiveWriteError):
            await (await writer.submit(record_at("scalp", i)))
    lines = [r for r in caplog.records if r.name == "observer.archive.refusals"]
    assert len(lines) == 1  # 29 failed commits within seconds: one line
    assert writer.refusals.open["scalp"].records == 29


async def test_while_a_stream_keeps_failing_the_gap_waits_for_its_first_success(
    writer: ArchiveWriter,
    assets: Path,
    clock: ManualClock,
    record_at: Callable[..., Record],
    immutable: Callable[[Path], None],
) -> None:
    """The system file takes writes all along; the scalp outage is still one gap, written
    when scalp writes succeed again, and the archive counts as refusing until then."""
    scalp_file, system_file = await first_files(writer, assets, record_at)
    immutable(scalp_file)
    for i in range(1, 4):
        with pytest.raises(ArchiveWriteError):
            await (await writer.submit(record_at("scalp", i)))
        await (await writer.submit(record_at("system", i)))  # the system stream is fine
        clock.advance(1)
        await asyncio.sleep(0.05)
        assert writer.refusals.refusing
    assert not [r for r in lines(system_file) if r["data"].get("event") == "gap"]  # type: ignore[attr-defined]
    chattr("-i", scalp_file)
    await (await writer.submit(record_at("scalp", 9)))
    await wait_until(lambda: not writer.refusals.refusing, timeout=3)
    gaps = [r for r in lines(system_file) if r["data"].get("event") == "gap"]  # type: ignore[attr-defined]
    assert len(gaps) == 1 and gaps[0]["data"]["records"] == 3  # type: ignore[index]


async def test_a_really_full_disk_is_refused_cut_back_and_recorded_once_space_returns(
    small_tmpfs: Path, clock: ManualClock, metrics: Metrics, record_at: Callable[..., Record]
) -> None:
    """A real 64 KiB tmpfs filled up: the append that runs out of space (ENOSPC part-way
    through) is cut back, and once the space is freed the refusal becomes one gap."""
    assets = small_tmpfs / "assets"
    writer = ArchiveWriter(assets, clock, metrics, fsync_ms=20)
    await writer.start()
    try:
        scalp_file, _system = await first_files(writer, assets, record_at)
        kept = scalp_file.read_bytes()
        filler = small_tmpfs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        big = [record_at("scalp", i, pad="x" * 8192) for i in range(1, 4)]  # new pages needed
        with pytest.raises(ArchiveWriteError):
            await (await writer.submit_many(big))
        assert scalp_file.read_bytes() == kept  # no part of the refused records stays
        assert writer.refusals.refusing
        filler.unlink()
        writer.refusals.quiet_seconds = 0.3
        await wait_until(lambda: not writer.refusals.refusing)
        seq = await (await writer.submit(record_at("scalp", 9)))
    finally:
        await writer.close()
    assert [r["seq"] for r in lines(scalp_file)] == [1, seq] == [1, 2]
    gaps = [r for r in lines(next(assets.glob("system_*.jsonl")))
            if r["data"].get("event") == "gap"]  # type: ignore[attr-defined]  # fmt: skip
    assert len(gaps) == 1 and gaps[0]["data"]["records"] == 3  # type: ignore[index]
    assert "No space left on device" in gaps[0]["data"]["error"]  # type: ignore[index]
