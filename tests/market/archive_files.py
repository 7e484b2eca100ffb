"""Reading what the archive wrote, for the market tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from observer.archive.reader import ArchiveReader


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
