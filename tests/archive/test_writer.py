"""ArchiveWriter: acknowledgement after fsync, seq, rotation, back-pressure, pause, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from observer.archive.exceptions import ArchiveError, ArchiveNotAccepting, ArchiveWriteError
from observer.archive.reader import ArchiveReader
from observer.archive.writer import ArchiveWriter
from observer.clock import ManualClock
from observer.metrics import Metrics
from observer.pipeline.record import Record

from .conftest import START, make_record, sample_value
from .held import held_writer


def lines_of(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [orjson.loads(line) for line in data.splitlines()]


async def test_ack_means_the_line_is_on_disk(
    writer: ArchiveWriter, assets: Path, record_at: Callable[..., Record], metrics: Metrics
) -> None:
    future = await writer.submit(record_at("scalp", 1))
    assert await future == 1
    [obj] = lines_of(assets / "scalp_20260105_09.jsonl")
    assert obj["seq"] == 1 and obj["stream"] == "scalp" and obj["data"]["i"] == 1
    assert obj["ts"] == "2026-01-05T09:00:00.000000+09:00"
    assert sample_value(metrics, "observer_records_stored_total", {"stream": "scalp"}) == 1
    assert sample_value(metrics, "observer_records_received_total", {"stream": "scalp"}) == 1
    assert sample_value(metrics, "observer_archive_bytes_written_total", {"stream": "scalp"}) > 0
    assert sample_value(metrics, "observer_archive_accepting") == 1


async def test_seq_is_per_stream_and_strictly_increasing(
    writer: ArchiveWriter, record_at: Callable[..., Record]
) -> None:
    futures = [await writer.submit(record_at("scalp" if i % 3 else "system", i)) for i in range(30)]
    seqs = [await f for f in futures]
    scalp = [s for i, s in enumerate(seqs) if i % 3]
    system = [s for i, s in enumerate(seqs) if not i % 3]
    assert scalp == list(range(1, 21))
    assert system == list(range(1, 11))


async def test_submit_many_resolves_to_the_last_seq(
    writer: ArchiveWriter, assets: Path, record_at: Callable[..., Record]
) -> None:
    future = await writer.submit_many([record_at("swing", i) for i in range(100)])
    assert await future == 100
    assert [o["seq"] for o in lines_of(assets / "swing_20260105_09.jsonl")] == list(range(1, 101))
    assert await (await writer.submit_many([])) == 0


async def test_seq_continues_across_restarts_per_stream(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    for round_no in range(3):
        w = ArchiveWriter(assets, clock, metrics)
        report = await w.start()
        if round_no:
            assert report.last_seq == {"scalp": 5 * round_no, "system": 2 * round_no}
        scalp = [await w.submit(make_record("scalp", clock.now_ns(), i)) for i in range(5)]
        system = [await w.submit(make_record("system", clock.now_ns(), i)) for i in range(2)]
        assert [await f for f in scalp] == list(range(5 * round_no + 1, 5 * round_no + 6))
        assert [await f for f in system] == [2 * round_no + 1, 2 * round_no + 2]
        await w.close()
        clock.advance(1800)  # the second restart is in the next hour: seq still continues
    seqs = [r["seq"] for r in ArchiveReader(assets).iter_records("scalp")]
    assert seqs == list(range(1, 16))


async def test_rotation_at_the_hour_and_closed_hour_is_compressed(
    writer: ArchiveWriter, assets: Path, clock: ManualClock, record_at: Callable[..., Record]
) -> None:
    clock.set(START + timedelta(minutes=59, seconds=59))
    assert await (await writer.submit(record_at("scalp", 1))) == 1
    assert writer.stats()["streams"]["scalp"]["current_file"] == "scalp_20260105_09.jsonl"
    clock.set(START + timedelta(hours=1, seconds=1))
    assert await (await writer.submit(record_at("scalp", 2))) == 2
    assert writer.stats()["streams"]["scalp"]["current_file"] == "scalp_20260105_10.jsonl"
    await writer.wait_compressed()
    names = sorted(p.name for p in assets.iterdir())
    assert names == [
        "manifest_20260105.sha256",
        "scalp_20260105_09.jsonl.zst",
        "scalp_20260105_10.jsonl",
    ]
    assert [r["seq"] for r in ArchiveReader(assets).iter_records("scalp")] == [1, 2]


async def test_a_straggler_from_a_closed_hour_goes_into_the_current_file(
    writer: ArchiveWriter, assets: Path, clock: ManualClock
) -> None:
    late = make_record("scalp", clock.now_ns() + 3_599_000_000_000, 1)  # 09:59:59 KST
    clock.set(START + timedelta(hours=1, seconds=5))
    assert await (await writer.submit(make_record("scalp", clock.now_ns(), 0))) == 1
    assert await (await writer.submit(late)) == 2
    objs = lines_of(assets / "scalp_20260105_10.jsonl")
    assert [o["seq"] for o in objs] == [1, 2]
    assert objs[1]["ts"].startswith("2026-01-05T09:59:59")
    assert not (assets / "scalp_20260105_09.jsonl").exists()


async def test_back_pressure_blocks_submit_when_the_queue_is_full(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    w, entered, release = await held_writer(assets, clock, metrics, batch_max=4, queue_max=8)
    first = await w.submit(make_record("scalp", clock.now_ns(), 0))
    assert await asyncio.to_thread(entered.wait, 10)  # the writer holds the first batch
    futures = [await w.submit(make_record("scalp", clock.now_ns(), i)) for i in range(1, 9)]
    assert w.stats()["archive"]["queue_depth"] == 8
    blocked = asyncio.create_task(w.submit(make_record("scalp", clock.now_ns(), 9)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not blocked.done()  # waits for space instead of growing the queue
    assert w.stats()["archive"]["queue_depth"] == 8
    assert sample_value(metrics, "observer_archive_queue_depth") <= 8
    release.set()
    last = await asyncio.wait_for(blocked, 10)
    assert [await f for f in [first, *futures, last]] == list(range(1, 11))
    await w.close()


async def test_pause_refuses_input_and_resume_accepts_again(
    writer: ArchiveWriter, record_at: Callable[..., Record], metrics: Metrics
) -> None:
    assert await (await writer.submit(record_at())) == 1
    writer.pause("disk floor reached")
    assert not writer.accepting
    assert sample_value(metrics, "observer_archive_accepting") == 0
    with pytest.raises(ArchiveNotAccepting, match="disk floor reached"):
        await writer.submit(record_at())
    with pytest.raises(ArchiveNotAccepting):
        await writer.submit_many([record_at()])
    assert writer.stats()["archive"]["pause_reason"] == "disk floor reached"
    writer.resume()
    assert writer.accepting
    assert await (await writer.submit(record_at())) == 2


async def test_close_drains_the_queue_and_is_idempotent(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    w = ArchiveWriter(assets, clock, metrics, batch_max=8)
    await w.start()
    futures = [await w.submit(make_record("scalp", clock.now_ns(), i)) for i in range(50)]
    await w.close()
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == list(range(1, 51))
    await w.close()
    with pytest.raises(ArchiveNotAccepting, match="closed"):
        await w.submit(make_record("scalp", clock.now_ns()))
    assert len(lines_of(assets / "scalp_20260105_09.jsonl")) == 50


async def test_submit_before_start_is_refused(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    w = ArchiveWriter(assets, clock, metrics)
    with pytest.raises(ArchiveNotAccepting, match="not started"):
        await w.submit(make_record("scalp", clock.now_ns()))


async def test_unknown_stream_and_unserialisable_record_fail_alone(
    writer: ArchiveWriter, record_at: Callable[..., Record]
) -> None:
    with pytest.raises(ArchiveError, match="unknown stream"):
        await writer.submit(make_record("bogus", 0))
    good1 = await writer.submit(record_at("scalp", 1))
    bad = await writer.submit(record_at("scalp", 2, obj=object()))
    good2 = await writer.submit(record_at("scalp", 3))
    assert await good1 == 1
    with pytest.raises(ArchiveError, match="not serialisable"):
        await bad
    assert await good2 == 2  # the failed record gave its seq back


async def test_write_error_fails_the_futures_and_the_writer_stays_usable(
    writer: ArchiveWriter, assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    assert await (await writer.submit(make_record("scalp", clock.now_ns(), 0))) == 1
    clock.set(START + timedelta(hours=1))
    blocker = assets / "scalp_20260105_10.jsonl"
    blocker.mkdir()  # the next hour's file cannot be created
    failed = [await writer.submit(make_record("scalp", clock.now_ns(), i)) for i in (1, 2)]
    for future in failed:
        with pytest.raises(ArchiveWriteError) as info:
            await future
        assert info.value.path.endswith("scalp_20260105_10.jsonl")
    blocker.rmdir()
    assert await (await writer.submit(make_record("scalp", clock.now_ns(), 3))) == 2
    assert [o["seq"] for o in lines_of(blocker)] == [2]
    assert sample_value(metrics, "observer_records_stored_total", {"stream": "scalp"}) == 2
    assert sample_value(metrics, "observer_records_received_total", {"stream": "scalp"}) == 4


async def test_stats_and_probe(
    writer: ArchiveWriter, assets: Path, record_at: Callable[..., Record]
) -> None:
    await (await writer.submit(record_at("system", 1)))
    stats = writer.stats()
    assert stats["streams"]["system"]["stored"] == 1
    assert stats["streams"]["system"]["last_record_ts"] == "2026-01-05T09:00:00.000000+09:00"
    assert stats["streams"]["scalp"]["current_file"] is None
    assert stats["archive"]["files"] == [
        {
            "name": "system_20260105_09.jsonl",
            "bytes": (assets / "system_20260105_09.jsonl").stat().st_size,
        }
    ]
    assert stats["archive"]["accepting"] is True
    assert writer.probe_writable() is None
    assert sorted(p.name for p in assets.iterdir()) == ["system_20260105_09.jsonl"]


async def test_probe_reports_an_unwritable_directory(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    w = ArchiveWriter(assets / "missing", clock, metrics)
    assert "not writable" in (w.probe_writable() or "")


async def test_start_compresses_hours_left_over_from_before_a_restart(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    left = make_record("scalp", clock.now_ns() - 3_600_000_000_000, 1)  # 08:00 KST
    left.seq = 41
    (assets / "scalp_20260105_08.jsonl").write_bytes(left.to_line())
    w = ArchiveWriter(assets, clock, metrics)
    report = await w.start()
    assert report.last_seq == {"scalp": 41}
    assert await (await w.submit(make_record("scalp", clock.now_ns(), 2))) == 42
    await w.wait_compressed()
    assert w.stats()["archive"]["compression"] == {"compressed": 1, "last_error": None}
    assert sample_value(metrics, "observer_archive_compressed_files_total") == 1
    await w.close()
    assert sorted(p.name for p in assets.iterdir()) == [
        "manifest_20260105.sha256",
        "scalp_20260105_08.jsonl.zst",
        "scalp_20260105_09.jsonl",
    ]
    assert [r["seq"] for r in ArchiveReader(assets).iter_records("scalp")] == [41, 42]


async def test_ack_latency_and_fsync_are_observed(
    writer: ArchiveWriter, record_at: Callable[..., Record], metrics: Metrics
) -> None:
    futures = [await writer.submit(record_at("scalp", i)) for i in range(5)]
    for future in futures:
        await future
    assert sample_value(metrics, "observer_archive_ack_seconds_count") == 5
    assert sample_value(metrics, "observer_archive_fsync_seconds_count") >= 1
    assert sample_value(metrics, "observer_last_record_timestamp_seconds", {"stream": "scalp"}) == (
        clock_seconds(record_at("scalp").recv_ns)
    )


def clock_seconds(ns: int) -> float:
    return ns / 1e9


async def test_queue_depth_metric_is_live(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    w, entered, release = await held_writer(assets, clock, metrics, batch_max=2, queue_max=16)
    futures = [await w.submit(make_record("scalp", clock.now_ns(), 0))]
    assert await asyncio.to_thread(entered.wait, 10)
    futures += [await w.submit(make_record("scalp", clock.now_ns(), i)) for i in range(1, 6)]
    assert sample_value(metrics, "observer_archive_queue_depth") == 5  # while the fsync hangs
    release.set()
    assert [await f for f in futures] == list(range(1, 7))
    assert sample_value(metrics, "observer_archive_queue_depth") == 0
    await w.close()


async def test_a_run_with_the_clock_ahead_does_not_poison_the_next(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    ahead = ManualClock(START + timedelta(days=1))
    w = ArchiveWriter(assets, ahead, metrics)
    await w.start()
    await (await w.submit(make_record("scalp", ahead.now_ns(), 0)))
    await w.close()
    w = ArchiveWriter(assets, clock, metrics)  # the clock is right again
    await w.start()
    assert await (await w.submit(make_record("scalp", clock.now_ns(), 1))) == 2  # seq goes on
    await w.close()
    today = [r["seq"] for r in ArchiveReader(assets).iter_records("scalp")
             if r["ts"].startswith("2026-01-05")]  # fmt: skip
    assert today == [2]
    assert (assets / "scalp_20260105_09.jsonl").is_file()
    assert len((assets / "scalp_20260106_09.jsonl").read_bytes().splitlines()) == 1


async def test_a_clock_set_back_into_compressed_hours_never_reopens_them(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> None:
    w = ArchiveWriter(assets, clock, metrics)
    await w.start()
    await (await w.submit(make_record("scalp", clock.now_ns(), 0)))
    clock.set(START + timedelta(hours=2))
    await (await w.submit(make_record("scalp", clock.now_ns(), 1)))
    await w.wait_compressed()
    await w.close()
    assert (assets / "scalp_20260105_09.jsonl.zst").is_file()
    clock.set(START + timedelta(minutes=5))  # back into the compressed 09 hour
    w = ArchiveWriter(assets, clock, metrics)
    await w.start()
    await (await w.submit(make_record("scalp", clock.now_ns(), 2)))
    await w.close()
    assert not (assets / "scalp_20260105_09.jsonl").exists()  # the closed hour stays closed
    assert (assets / "scalp_20260105_10.jsonl").is_file()
