"""The disk guard pauses and resumes the real ArchiveWriter; no line is ever half-written."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from observer.archive.exceptions import ArchiveNotAccepting
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.metrics import Metrics
from observer.ops.diskguard import MB, PAUSE_REASON, DiskGuard, DiskSpace, statvfs_free_space
from observer.ops.maintenance import Maintenance
from observer.pipeline.record import Record

TOTAL = 10_000 * MB


class SimulatedDisk:
    """A free-space source the test turns like a knob; counts the measurements."""

    def __init__(self, free_mb: int) -> None:
        self.free = free_mb * MB
        self.calls = 0
        self.measured = asyncio.Event()

    def __call__(self) -> DiskSpace:
        self.calls += 1
        self.measured.set()
        return DiskSpace(self.free, TOTAL)


def tick(n: int) -> Record:
    return Record("scalp", "sim", "H0STCNT0", "005930", {"price": 70_000 + n, "n": n}, 0)


def archive_lines(assets: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(assets.glob("*.jsonl")):
        body = path.read_bytes()
        assert body == b"" or body.endswith(b"\n"), f"{path.name} ends in a partial line"
        found += [orjson.loads(line) for line in body.splitlines()]
    return found


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[ArchiveWriter]:
    w = ArchiveWriter(tmp_path / "assets", Clock(), Metrics(), fsync_ms=5, queue_max=1000)
    await w.start()
    await w.wait_compressed()  # the start-up compression pass is done before the test begins
    yield w
    await w.close()


async def produce(writer: ArchiveWriter, acked: list[int], refused: list[int], n: int) -> None:
    """Submit ``n`` ticks one by one, remembering which were acknowledged and which refused."""
    for i in range(n):
        record = tick(i)
        try:
            future = await writer.submit(record)
        except ArchiveNotAccepting:
            refused.append(i)
            await asyncio.sleep(0)
            continue
        await future
        acked.append(i)


async def test_guard_warns_pauses_at_the_floor_and_resumes(writer: ArchiveWriter) -> None:
    disk = SimulatedDisk(free_mb=5000)
    metrics = Metrics()
    guard = DiskGuard(
        Clock(), metrics, free_space=disk, warn_free_mb=2048, min_free_mb=256, writer=writer
    )
    acked: list[int] = []
    refused: list[int] = []

    assert await guard.check() == "ok"
    assert metrics.disk_free_bytes._value.get() == 5000 * MB
    assert metrics.disk_total_bytes._value.get() == TOTAL
    await produce(writer, acked, refused, 50)

    disk.free = 1000 * MB
    assert await guard.check() == "warn"
    assert writer.accepting and guard.warnings() == ["disk space low: 1000 MB free"]

    disk.free = 100 * MB
    assert await guard.check() == "floor"
    assert not writer.accepting
    assert writer.stats()["archive"]["pause_reason"] == PAUSE_REASON
    assert guard.status()["state"] == "floor" and guard.status()["writer_paused"] is True
    await produce(writer, acked, refused, 20)
    assert len(refused) == 20  # producers feel the pause, nothing is written half-way

    disk.free = 300 * MB  # above the floor, still below the warning
    assert await guard.check() == "warn"
    assert writer.accepting
    await produce(writer, acked, refused, 30)
    disk.free = 4000 * MB
    assert await guard.check() == "ok" and guard.warnings() == []
    await writer.close()

    lines = archive_lines(writer.assets_dir)
    scalp = [line for line in lines if line["stream"] == "scalp"]
    assert [line["data"]["n"] for line in scalp] == acked  # every ack on disk, in order
    seqs = [line["seq"] for line in scalp]
    assert seqs == list(range(1, len(acked) + 1))
    events = [line["data"]["level"] for line in lines if line["data"].get("event") == "disk"]
    assert events == ["warn", "floor", "resumed", "recovered"]


async def test_guard_re_pauses_a_writer_resumed_while_the_disk_is_full(
    writer: ArchiveWriter,
) -> None:
    disk = SimulatedDisk(free_mb=10)
    guard = DiskGuard(
        Clock(), None, free_space=disk, warn_free_mb=2048, min_free_mb=256, writer=writer
    )
    assert await guard.check() == "floor" and not writer.accepting
    writer.resume()
    await guard.check()
    assert not writer.accepting


async def test_a_failing_measurement_keeps_the_state_and_is_reported(
    writer: ArchiveWriter,
) -> None:
    def broken() -> DiskSpace:
        raise OSError(5, "Input/output error")

    guard = DiskGuard(
        Clock(), None, free_space=broken, warn_free_mb=1, min_free_mb=1, writer=writer
    )
    assert await guard.check() == "ok"
    assert "Input/output error" in guard.status()["error"] and writer.accepting


async def test_maintenance_runs_the_guard_every_interval(make_settings: Any) -> None:
    settings = make_settings(OBSERVER_STANDALONE="false")
    disk = SimulatedDisk(free_mb=100)
    maintenance = Maintenance(settings, Clock(), Metrics(), free_space=disk, disk_interval=0.01)
    await maintenance.start()
    try:
        for _ in range(3):  # the start-up check, then the loop keeps measuring
            disk.measured.clear()
            await asyncio.wait_for(disk.measured.wait(), 5)
        status = maintenance.status()
        assert status["disk"]["state"] == "floor" and status["disk"]["free_bytes"] == 100 * MB
        assert status["maintenance"]["scheduled"] is False
        assert maintenance.warnings() == ["disk almost full: archive paused (100 MB free)"]
    finally:
        await maintenance.stop()
    assert disk.calls >= 3


def test_the_real_source_measures_the_volume(tmp_path: Path) -> None:
    space = statvfs_free_space(tmp_path / "not" / "yet" / "created")()
    st = os.statvfs(tmp_path)
    assert 0 < space.free <= space.total == st.f_blocks * st.f_frsize


@pytest.fixture
def small_volume(mount_tmpfs: Callable[[str, str], Path]) -> Path:
    """A real 32 MB tmpfs (needs root; skipped where mounting is not allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    return mount_tmpfs("volume", "32m")


async def test_a_real_volume_filling_up_pauses_the_writer(small_volume: Path) -> None:
    writer = ArchiveWriter(small_volume / "assets", Clock(), Metrics(), fsync_ms=5)
    await writer.start()
    await writer.wait_compressed()
    guard = DiskGuard(
        Clock(),
        Metrics(),
        free_space=statvfs_free_space(small_volume),
        warn_free_mb=20,
        min_free_mb=12,
        writer=writer,
    )
    try:
        assert await guard.check() == "ok"
        await (await writer.submit(tick(1)))
        filler = small_volume / "filler.bin"
        with filler.open("wb") as fh:
            fh.write(b"\0" * (24 * MB))
        assert await guard.check() == "floor" and not writer.accepting
        filler.unlink()
        assert await guard.check() == "ok" and writer.accepting
        await (await writer.submit(tick(2)))
    finally:
        with contextlib.suppress(Exception):
            await writer.close()
    lines = archive_lines(small_volume / "assets")
    assert [line["data"].get("n") for line in lines if line["stream"] == "scalp"] == [1, 2]
