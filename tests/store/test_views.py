"""Compatibility views: exact names, columns, types, and the rows they return."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import pytest

from observer.config.settings import Settings
from observer.pipeline.record import Record
from observer.store.batch import BatchWriter, RowBatch
from observer.store.connection import Database
from observer.store.migrations import migrate
from tests.store.samples import OPEN_NS, gap, quote, tick

pytestmark = pytest.mark.db
S = 10**9

EXPECTED_COLUMNS = {
    "scalp_ticks": [
        ("symbol", "text"), ("event_time", "timestamp with time zone"),
        ("bid_price", "numeric"), ("ask_price", "numeric"), ("bid_size", "bigint"),
        ("ask_size", "bigint"), ("last_price", "numeric"), ("volume", "bigint"),
        ("session_id", "text"), ("mitigation_level", "integer"), ("quality_flag", "text"),
    ],
    "swing_bars_10m": [
        ("symbol", "text"), ("bar_time", "timestamp with time zone"), ("open", "numeric"),
        ("high", "numeric"), ("low", "numeric"), ("close", "numeric"), ("volume", "bigint"),
        ("bid_price", "numeric"), ("ask_price", "numeric"), ("session_id", "text"),
        ("schema_version", "integer"), ("mitigation_level", "integer"),
        ("quality_flag", "text"),
    ],
    "scalp_1m_bars": [
        ("symbol", "text"), ("bar_time", "timestamp with time zone"), ("open", "numeric"),
        ("high", "numeric"), ("low", "numeric"), ("close", "numeric"), ("volume", "bigint"),
        ("coverage_ratio", "numeric"), ("session_id", "text"), ("quality_flag", "text"),
    ],
    "scalp_gaps": [
        ("gap_start_ts", "timestamp with time zone"), ("gap_end_ts", "timestamp with time zone"),
        ("gap_seconds", "numeric"), ("scope", "text"), ("reason", "text"),
        ("session_id", "text"),
        # migration 0005: added after the original columns
        ("symbol", "text"), ("gap_id", "text"), ("repair_outcome", "text"),
        ("trades_recovered", "bigint"), ("volume_recovered", "bigint"),
        ("repair_reason", "text"),
    ],
}  # fmt: skip


async def _load(settings: Settings, records: list[Record]) -> None:
    await migrate(settings)
    db = await Database.connect(settings.db_dsn, label="test")
    try:
        batch = RowBatch()
        for seq, rec in enumerate(records, 1):
            rec.seq = seq
            batch.add(orjson.loads(rec.to_line()))
        await BatchWriter(db).write(batch)
    finally:
        await db.close()


async def _fetch(dsn: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_view_columns_and_types(db_settings: Settings, pg_dsn: str) -> None:
    await migrate(db_settings)
    for view, expected in EXPECTED_COLUMNS.items():
        rows = await _fetch(
            pg_dsn,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = $1 ORDER BY ordinal_position",
            view,
        )
        assert [(r["column_name"], r["data_type"]) for r in rows] == expected, view


async def test_scalp_views_rows(db_settings: Settings, pg_dsn: str) -> None:
    flagged = tick("005930", 40, 70400, 10, OPEN_NS + 70 * S)
    flagged.flags = ["price_outlier"]
    records = [
        tick("005930", 10, 70100, 10, OPEN_NS + 1 * S),
        tick("005930", 25, 70300, 15, OPEN_NS + 20 * S),
        tick("005930", 30, 70000, 5, OPEN_NS + 59 * S),
        flagged,
        # 30 s of the second minute lost to a symbol gap; another symbol's gap does not count
        gap("005930", OPEN_NS + 90 * S, OPEN_NS + 120 * S, OPEN_NS + 121 * S, "disconnect"),
        gap("000660", OPEN_NS + 60 * S, OPEN_NS + 120 * S, OPEN_NS + 121 * S, "disconnect"),
    ]
    await _load(db_settings, records)
    ticks = await _fetch(pg_dsn, "SELECT * FROM scalp_ticks ORDER BY event_time")
    assert len(ticks) == 4
    first = ticks[0]
    assert first["event_time"].isoformat() == "2026-01-05T00:00:01+00:00"
    assert (first["bid_price"], first["ask_price"]) == (Decimal(70100), Decimal(70200))
    assert (first["bid_size"], first["ask_size"], first["volume"]) == (40, 50, 10)
    assert first["last_price"] == Decimal(70100)
    assert first["session_id"] == "20260105_regular"
    assert (first["mitigation_level"], first["quality_flag"]) == (0, "ok")
    assert (ticks[3]["mitigation_level"], ticks[3]["quality_flag"]) == (1, "price_outlier")

    bars = await _fetch(pg_dsn, "SELECT * FROM scalp_1m_bars ORDER BY bar_time")
    assert len(bars) == 2
    one, two = bars
    assert one["bar_time"].isoformat() == "2026-01-05T00:00:00+00:00"
    assert [one[k] for k in ("open", "high", "low", "close")] == [70100, 70300, 70000, 70000]
    assert one["volume"] == 30
    assert (one["coverage_ratio"], one["quality_flag"]) == (Decimal("1.0000"), "ok")
    assert two["coverage_ratio"] == Decimal("0.5000")
    assert two["quality_flag"] == "partial"
    assert one["session_id"] == "20260105_regular"

    gaps = await _fetch(pg_dsn, "SELECT * FROM scalp_gaps ORDER BY gap_seconds")
    assert [g["gap_seconds"] for g in gaps] == [Decimal(30), Decimal(60)]
    assert gaps[0]["scope"] == "symbol"
    assert gaps[0]["reason"] == "disconnect"
    assert gaps[0]["session_id"] == "20260105"


async def test_swing_bars_10m(db_settings: Settings, pg_dsn: str) -> None:
    minute = 60 * S
    sweeps = [
        (OPEN_NS + 0 * minute, 70000, 1000),
        (OPEN_NS + 5 * minute, 70500, 1800),  # same 10-minute bar as the first
        (OPEN_NS + 10 * minute, 69800, 2600),
    ]
    records = [quote("005930", at, price, acc, at + 1000) for at, price, acc in sweeps]
    await _load(db_settings, records)
    bars = await _fetch(pg_dsn, "SELECT * FROM swing_bars_10m ORDER BY bar_time")
    assert [b["bar_time"].isoformat() for b in bars] == [
        "2026-01-05T00:00:00+00:00",
        "2026-01-05T00:10:00+00:00",
    ]
    first, second = bars
    assert [first[k] for k in ("open", "high", "low", "close")] == [70000, 70500, 70000, 70500]
    assert first["volume"] == 1800  # accumulated volume at the end of the first bar
    assert second["volume"] == 800  # 2600 - 1800
    assert (first["bid_price"], first["ask_price"]) == (Decimal(70500), Decimal(70600))
    assert first["session_id"] == "20260105_regular"
    assert (first["schema_version"], first["mitigation_level"]) == (1, 0)
    assert first["quality_flag"] == "ok"


async def test_drop_partitions_before(db_settings: Settings, pg_dsn: str) -> None:
    day = 86_400 * S
    records = [tick("005930", 10 + i, 70000, 1, OPEN_NS + i * day) for i in range(3)]
    records.append(gap("005930", OPEN_NS, OPEN_NS + S, OPEN_NS + 2 * S))
    await _load(db_settings, records)
    rows = await _fetch(
        pg_dsn, "SELECT name FROM observer_drop_partitions_before($1) AS name", date(2026, 1, 7)
    )
    assert sorted(r["name"] for r in rows) == [
        "bars_1m_20260105", "bars_1m_20260106", "ticks_20260105", "ticks_20260106",
    ]  # fmt: skip
    left = await _fetch(pg_dsn, "SELECT business_date FROM ticks")
    assert [r["business_date"] for r in left] == [date(2026, 1, 7)]
    assert await _fetch(pg_dsn, "SELECT * FROM gaps") == []
