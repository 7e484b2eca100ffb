"""Retention removes exactly the expired files of each class, on an injected clock."""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from observer.clock import KST, ManualClock
from observer.metrics import Metrics
from observer.ops.maintenance import Maintenance, next_run_at
from observer.ops.retention import RetentionRunner, period_end

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=KST)


def touch(path: Path, body: bytes = b"x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def fake_compressor(calls: list[Path]) -> Any:
    """Stands in for the archive's compressor: writes the .zst and removes the plain hour."""

    def compress(path: Path) -> Path:
        calls.append(path)
        target = path.with_name(path.name + ".zst")
        target.write_bytes(b"zst:" + path.read_bytes())
        path.unlink()
        return target

    return compress


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(
        OBSERVER_RETENTION_PLAIN_HOURS=48,
        OBSERVER_RETENTION_ARCHIVE_DAYS=30,
        OBSERVER_RETENTION_QUARANTINE_DAYS=7,
        OBSERVER_RETENTION_SNAPSHOT_DAYS=14,
        OBSERVER_RETENTION_LOG_DAYS=10,
        OBSERVER_RETENTION_BACKUP_DAYS=3,
    )


def day(offset: int) -> str:
    return (NOW.date() - timedelta(days=offset)).strftime("%Y%m%d")


def test_period_end_comes_from_the_name_or_the_mtime(tmp_path: Path) -> None:
    assert period_end(Path("scalp_20260105_09.jsonl.zst")) == datetime(2026, 1, 5, 10, tzinfo=KST)
    assert period_end(Path("manifest_20260105.sha256")) == datetime(2026, 1, 6, tzinfo=KST)
    assert period_end(Path("20260105_universe.json")) == datetime(2026, 1, 6, tzinfo=KST)
    undated = touch(tmp_path / "notes.txt")
    os.utime(undated, (1_700_000_000, 1_700_000_000))
    assert period_end(undated).timestamp() == 1_700_000_000


def test_exactly_the_expired_files_of_every_class_are_removed(settings: Any) -> None:
    s = settings
    a = s.assets_dir
    keep: list[Path] = []
    gone: list[Path] = []
    # compressed archive: 30 days; a day's period ends at the next midnight
    gone += [touch(a / f"scalp_{day(31)}_15.jsonl.zst"), touch(a / f"swing_{day(31)}_09.jsonl.zst")]
    gone += [touch(a / f"scalp_{day(30)}_00.jsonl.zst")]  # ended 30 days minus 23 h... see below
    keep += [touch(a / f"scalp_{day(29)}_23.jsonl.zst"), touch(a / f"system_{day(0)}_09.jsonl.zst")]
    # the manifest of a fully expired day goes; one with a surviving hour stays
    gone += [touch(a / f"manifest_{day(31)}.sha256")]
    keep += [touch(a / f"manifest_{day(29)}.sha256")]
    # quarantine 7 days (dated names), snapshots 14 days, logs 10 days, backups 3 days
    q = s.quarantine_dir
    gone += [touch(q / f"quarantine_{day(8)}.jsonl")]
    keep += [touch(q / f"quarantine_{day(6)}.jsonl")]
    gone += [touch(s.snapshot_dir / f"{day(15)}_universe.json")]
    keep += [touch(s.snapshot_dir / f"{day(13)}_universe.json")]
    gone += [touch(s.system_log_dir / f"observer_{day(11)}.log")]
    gone += [touch(s.maintenance_log_dir / f"maintenance_{day(12)}.log")]
    keep += [touch(s.system_log_dir / f"observer_{day(9)}.log"), touch(s.log_dir / "README")]
    gone += [touch(s.backup_dir / f"observer-backup-{day(4)}T183000.tar.zst")]
    keep += [touch(s.backup_dir / f"observer-backup-{day(2)}T183000.tar.zst")]
    # an undated quarantine file falls back to its modification time
    old = touch(q / "undated.bin")
    stamp = (NOW - timedelta(days=8)).timestamp()
    os.utime(old, (stamp, stamp))
    gone.append(old)
    fresh = touch(q / "undated-new.bin")
    stamp = (NOW - timedelta(days=6)).timestamp()
    os.utime(fresh, (stamp, stamp))
    keep.append(fresh)

    # day(30) hour 00 ends at day(30) 01:00, which is 30 days + 17.5 h before NOW: expired.
    clock = ManualClock(NOW)
    metrics = Metrics()
    report = RetentionRunner(s, clock, metrics).run()

    removed = {Path(p) for paths in report.removed.values() for p in paths}
    assert removed == set(gone)
    assert all(not p.exists() for p in gone)
    assert all(p.exists() for p in keep)
    assert report.errors == []
    assert metrics.retention_removed.labels("archive")._value.get() == 3


def test_boundary_is_exact_to_the_second(settings: Any) -> None:
    path = touch(settings.snapshot_dir / "20260301_universe.json")  # period ends 03-02 00:00
    clock = ManualClock(datetime(2026, 3, 15, 23, 59, 59, tzinfo=KST))  # 14 d minus 1 s
    RetentionRunner(settings, clock).run()
    assert path.exists()
    clock.advance(1)
    RetentionRunner(settings, clock).run()
    assert not path.exists()


def test_plain_hours_are_compressed_never_deleted(settings: Any) -> None:
    a = settings.assets_dir
    old = touch(a / f"scalp_{day(400)}_10.jsonl", b'{"seq":1}\n')
    recent = touch(a / f"scalp_{day(1)}_10.jsonl", b'{"seq":2}\n')  # 32.5 h old: < 48 h
    current = touch(a / f"scalp_{day(0)}_18.jsonl", b'{"seq":3}\n')

    # without a compressor nothing plain is touched, however old
    report = RetentionRunner(settings, ManualClock(NOW)).run()
    assert old.exists() and recent.exists() and current.exists()
    assert report.kept_plain == [old.name]

    calls: list[Path] = []
    report = RetentionRunner(settings, ManualClock(NOW), compressor=fake_compressor(calls)).run()
    assert calls == [old]
    assert report.compressed == [old.name]
    assert (a / (old.name + ".zst")).exists()  # compressed now, deleted only by a later pass
    assert recent.exists() and current.exists()


def test_a_failing_compression_is_reported_and_keeps_the_plain_file(settings: Any) -> None:
    old = touch(settings.assets_dir / f"swing_{day(5)}_10.jsonl")

    def broken(_path: Path) -> None:
        raise OSError(28, "No space left on device")

    report = RetentionRunner(settings, ManualClock(NOW), compressor=broken).run()
    assert old.exists()
    assert report.compressed == [] and len(report.errors) == 1


async def test_database_partitions_dropped_or_skipped_cleanly(settings: Any) -> None:
    seen: list[date] = []

    async def dropper(_settings: Any, cutoff: date) -> list[str]:
        seen.append(cutoff)
        return ["scalp_ticks_p20250101"]

    async def unreachable(_settings: Any, _cutoff: date) -> list[str]:
        raise ConnectionRefusedError(111, "Connection refused")

    clock = ManualClock(NOW)
    maintenance = Maintenance(settings, clock, Metrics(), drop_partitions=dropper)
    result = await maintenance.run("retention")
    assert seen == [NOW.date() - timedelta(days=settings.retention_db_days)]
    assert result["partitions_dropped"] == 1 and result["partitions_skipped"] is None

    maintenance = Maintenance(settings, clock, Metrics(), drop_partitions=unreachable)
    result = await maintenance.run("retention")
    assert result["partitions_dropped"] == 0
    assert "not reachable" in result["partitions_skipped"]
    assert maintenance.last_runs["retention"]["ok"] is True


async def test_the_daily_run_happens_at_the_maintenance_time_on_the_process_clock(
    make_settings: Any,
) -> None:
    settings = make_settings(OBSERVER_MAINTENANCE_TIME="18:30", OBSERVER_RETENTION_SNAPSHOT_DAYS=14)
    expired = touch(settings.snapshot_dir / "20260305_universe.json")  # expires 03-20 00:00
    clock = ManualClock(datetime(2026, 3, 19, 23, 0, tzinfo=KST))
    maintenance = Maintenance(settings, clock, Metrics(), disk_interval=60)
    assert maintenance.status()["maintenance"]["scheduled"] is True
    await maintenance.start()
    try:
        await asyncio.wait_for(maintenance.daily_ran.wait(), 10)
    finally:
        await maintenance.stop()
    assert not expired.exists()
    # Not at 23:00 the day before: at 18:30 on the process clock.
    assert maintenance.last_runs["backup"]["at"].startswith("2026-03-20T18:30"), (
        maintenance.last_runs
    )
    assert maintenance.last_runs["retention"]["at"].startswith("2026-03-2")
    assert maintenance.last_runs["backup"]["ok"] is True  # skipped: no repository configured


def test_next_run_is_today_or_tomorrow() -> None:
    at = time(18, 30)
    assert next_run_at(datetime(2026, 3, 20, 9, 0, tzinfo=KST), at) == datetime(
        2026, 3, 20, 18, 30, tzinfo=KST
    )
    assert next_run_at(datetime(2026, 3, 20, 18, 30, tzinfo=KST), at) == datetime(
        2026, 3, 21, 18, 30, tzinfo=KST
    )


def test_an_uncompressed_hour_is_never_deleted_even_in_an_overlapping_directory(
    make_settings: Any, home: Path
) -> None:
    settings = make_settings(OBSERVER_SNAPSHOT_DIR=str(home / "data" / "assets"))
    plain = touch(settings.assets_dir / f"scalp_{day(400)}_10.jsonl")
    snapshot = touch(settings.snapshot_dir / f"{day(400)}_universe.json")
    RetentionRunner(settings, ManualClock(NOW)).run()
    assert plain.exists() and not snapshot.exists()
