"""A started archive to write to, and reading what it wrote, for the market tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from observer.archive.quarantine import QuarantineWriter
from observer.archive.reader import ArchiveReader
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.config.settings import Settings
from observer.market.outlet import RecordOutlet
from observer.metrics import Metrics


async def started_outlet(
    settings: Settings, clock: Clock, metrics: Metrics
) -> tuple[ArchiveWriter, RecordOutlet]:
    """A started ArchiveWriter (5 ms fsync) and the RecordOutlet over it and a quarantine."""
    writer = ArchiveWriter(settings.assets_dir, clock, metrics, fsync_ms=5)
    await writer.start()
    quarantine = QuarantineWriter(settings.quarantine_dir, clock, metrics)
    return writer, RecordOutlet(writer, quarantine, clock)


def archived(assets_dir: Path, stream: str) -> list[dict[str, Any]]:
    """Every record of ``stream`` (plain and compressed hours), in seq order."""
    return sorted(ArchiveReader(assets_dir).iter_records(stream), key=lambda r: int(r["seq"]))


def events(assets_dir: Path, event: str) -> list[dict[str, Any]]:
    """System records whose ``data.event`` is ``event``."""
    return [r for r in archived(assets_dir, "system") if r["data"]["event"] == event]


def quarantined(quarantine_dir: Path) -> list[dict[str, Any]]:
    """Every line of the quarantine files."""
    lines = []
    for path in sorted(quarantine_dir.glob("quarantine_*.jsonl")):
        lines.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
    return lines
