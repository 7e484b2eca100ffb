"""Migration 0005: a gap's repair outcome reaches the gaps table and scalp_gaps, either order."""

from __future__ import annotations

import asyncpg

from observer.archive.reader import ArchiveReader
from observer.clock import Clock
from observer.config.settings import Settings
from observer.metrics import Metrics
from observer.pipeline.record import system_record
from observer.store.loader import ArchiveLoader
from tests.store.samples import OPEN_NS, gap, write_archive

S = 10**9


def _loader(settings: Settings) -> ArchiveLoader:
    return ArchiveLoader(settings, Clock(), Metrics(), ArchiveReader(settings.assets_dir))


def _repair(gap_ids: list[str], at_ns: int, outcome: str, trades: int) -> object:
    return system_record(
        "gap_repair", at_ns, "sim", "100001", gap_ids=gap_ids, gap_id=gap_ids[0],
        outcome=outcome, trades_recovered=trades, volume_recovered=trades * 10,
        reason=None if outcome == "repaired" else "older than the API reaches",
    )  # fmt: skip


async def _rows(dsn: str) -> dict[str, tuple[object, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT gap_id, repair_outcome, trades_recovered, volume_recovered, repair_reason,"
            " gap_start_ts, reason FROM scalp_gaps ORDER BY gap_start_ts"
        )
    finally:
        await conn.close()
    return {r["gap_id"] or r["reason"]: tuple(r.values())[1:5] for r in rows}


async def test_outcomes_loaded_after_their_gaps_and_in_the_same_batch(
    db_settings: Settings, pg_dsn: str
) -> None:
    tagged = [
        gap("100001", OPEN_NS + i * S, OPEN_NS + (i + 1) * S, OPEN_NS + (i + 2) * S)
        for i in range(3)
    ]
    for i, record in enumerate(tagged):
        record.data["gap_id"], record.data["repair"] = f"g{i}", "pending"
    untracked = gap("100002", OPEN_NS, OPEN_NS + S, OPEN_NS + 5 * S, reason="archive_refused")
    first = [*tagged, untracked, _repair(["g0"], OPEN_NS + 6 * S, "repaired", 4)]
    write_archive(db_settings.assets_dir, first)
    await _loader(db_settings).run_once()
    rows = await _rows(pg_dsn)
    assert rows["g0"] == ("repaired", 4, 40, None)  # outcome in the same batch as its gap
    assert rows["g1"] == ("pending", None, None, None)
    assert rows["archive_refused"] == (None, None, None, None)  # not a repaired kind
    later = [_repair(["g1", "g2"], OPEN_NS + 60 * S, "partial", 2)]
    write_archive(db_settings.assets_dir, later, start_seq={"system": len(first)})
    await _loader(db_settings).run_once()
    rows = await _rows(pg_dsn)
    assert rows["g1"] == rows["g2"] == ("partial", 2, 20, "older than the API reaches")
    assert rows["g0"] == ("repaired", 4, 40, None)
