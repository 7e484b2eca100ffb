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


class QuarantineRecorder:
    """Collects quarantined inputs (stands in for the archive's QuarantineWriter)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str | None]] = []

    async def put(self, reason: str, raw: str, tr_id: str | None = None) -> None:
        self.items.append((reason, raw, tr_id))
