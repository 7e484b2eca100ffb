"""Reading what the archive wrote, for the market tests (plain hourly JSONL files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def archived(assets_dir: Path, stream: str) -> list[dict[str, Any]]:
    """Every record of ``stream`` in the plain files of ``assets_dir``, in seq order."""
    records = []
    for path in sorted(assets_dir.glob(f"{stream}_*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line:
                records.append(orjson.loads(line))
    return sorted(records, key=lambda r: r["seq"])


def events(assets_dir: Path, event: str) -> list[dict[str, Any]]:
    """System records whose ``data.event`` is ``event``."""
    return [r for r in archived(assets_dir, "system") if r["data"]["event"] == event]


def quarantined(quarantine_dir: Path) -> list[dict[str, Any]]:
    """Every line of the quarantine files."""
    lines = []
    for path in sorted(quarantine_dir.glob("quarantine_*.jsonl")):
        lines.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
    return lines
