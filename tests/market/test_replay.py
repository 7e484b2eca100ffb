"""The replay source: captured frames and archive lines through the live pipeline."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import orjson

from observer.archive.quarantine import QuarantineWriter
from observer.archive.reader import ArchiveReader
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, ManualClock
from observer.config.settings import Settings
from observer.market.calendar import MarketCalendar
from observer.market.outlet import RecordOutlet
from observer.market.replay import ReplaySource
from observer.market.streamer import ScalpStreamer
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline

FRAMES = Path(__file__).parent.parent / "data" / "frames"


async def replay(settings: Settings, path: Path) -> tuple[ReplaySource, list[dict], list[dict]]:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, 5, tzinfo=KST))
    metrics = Metrics()
    writer = ArchiveWriter(settings.assets_dir, clock, metrics, fsync_ms=5)
    await writer.start()
    quarantine = QuarantineWriter(settings.quarantine_dir, clock, metrics)
    pipeline = Pipeline.from_settings(settings, MarketCalendar(settings), metrics)
    pipeline.source = "replay"
    outlet = RecordOutlet(writer, quarantine, clock)
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
    streamer = ScalpStreamer(
        "replay", queue, clock, outlet, pipeline, source_label="replay", registered=tuple
    )
    source = ReplaySource(path, clock, streamer)
    await source.run()
    await writer.close()
    await quarantine.close()
    records = list(ArchiveReader(settings.assets_dir).iter_records("scalp", None))
    quarantined = [
        orjson.loads(line)
        for f in sorted(settings.quarantine_dir.glob("*.jsonl"))
        for line in f.read_bytes().splitlines()
    ]
    return source, records, quarantined


def expected_records(*names: str) -> int:
    total = 0
    for name in names:
        for line in (FRAMES / name).read_text().splitlines():
            if line[:1] in "01":
                total += int(line.split("|")[2])
    return total


async def test_raw_frames_are_replayed_record_for_record(make_settings, tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    capture.mkdir()
    for name in ("h0stcnt0_multi.txt", "h0stcnt0_single.txt", "control.txt"):
        (capture / name).write_bytes((FRAMES / name).read_bytes())
    (capture / "zz_noise.txt").write_text("not a frame at all\n{broken json\n")
    settings = make_settings()
    source, records, quarantined = await replay(settings, capture)
    assert source.progress.done and source.progress.files == 4
    assert source.progress.control == 4  # control.txt: answers and PINGPONG, no data
    assert len(records) == expected_records("h0stcnt0_multi.txt", "h0stcnt0_single.txt")
    assert {r["source"] for r in records} == {"replay"}
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    reasons = [q["reason"] for q in quarantined]
    assert reasons.count("unreadable_line") == 1  # "{broken json"
    assert any(q["raw"] == "not a frame at all" for q in quarantined)


async def test_archive_lines_are_reparsed_keeping_receive_time(make_settings, tmp_path) -> None:
    first = make_settings()
    _, original, _ = await replay(first, FRAMES / "h0stcnt0_multi.txt")
    exported = tmp_path / "old_archive.jsonl"
    exported.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in original))
    second = make_settings(OBSERVER_DATA_DIR=str(tmp_path / "second"))
    _, again, _ = await replay(second, exported)
    assert [(r["symbol"], r["recv_ns"], r["raw"]) for r in again] == [
        (r["symbol"], r["recv_ns"], r["raw"]) for r in original
    ]
    assert [r["data"]["acc_volume"] for r in again] == [r["data"]["acc_volume"] for r in original]
