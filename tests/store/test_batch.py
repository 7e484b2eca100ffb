"""BatchWriter on the real PostgreSQL: exactly-once rows, bars merged correctly, rejects."""

from __future__ import annotations

import re

import orjson
import pytest

from observer.config.settings import Settings
from observer.pipeline.record import Record
from observer.store import rows as R
from observer.store import statements as SQL
from observer.store.batch import BatchWriter, Checkpoint, RowBatch
from observer.store.connection import Database
from observer.store.migrations import migrate
from tests.store.samples import OPEN_NS, gap, quote, scalp_series, tick

pytestmark = pytest.mark.db


def _batch(records: list[Record], *, lines: bool = False) -> RowBatch:
    """The records as one batch: parsed records, or with ``lines`` archive lines (the fast path
    takes the trades it can)."""
    batch = RowBatch()
    for seq, rec in enumerate(records, 1):
        rec.seq = seq
        line = rec.to_line().rstrip(b"\n")
        if lines and not batch.take_lines(line + b"\n", 0, 1):
            batch.parse_and_add(line)
        elif not lines:
            batch.add(orjson.loads(line))
    return batch


async def _db(settings: Settings) -> Database:
    await migrate(settings)
    return await Database.connect(settings.db_dsn, label="test")


def _insert_columns(sql: str, table: str) -> list[str]:
    found = re.search(r"INSERT INTO " + table + r" \((.*?)\)", sql, re.S)
    assert found is not None
    return [c.strip() for c in found.group(1).split(",")]


def test_statements_match_column_declarations() -> None:
    for table, spec in R.STAGING.items():
        ddl = SQL.STAGING_DDL[table]
        for name, kind in spec:
            assert f"    {name} {kind}" in ddl
        assert {name for name, _ in spec} <= set(_insert_columns(SQL.INSERT[table], table))
    tick_columns = _insert_columns(SQL.INSERT_STAGED_TICKS, "ticks")
    assert tick_columns == [name for name, _ in R.TICK_COLUMNS]
    quote_columns = _insert_columns(SQL.INSERT["quotes"], "quotes")
    assert quote_columns[-len(R.QUOTE_FIELDS) :] == [name for name, _ in R.QUOTE_FIELDS]


async def test_write_twice_inserts_once(db_settings: Settings) -> None:
    db = await _db(db_settings)
    try:
        records = scalp_series(3, 20)
        records.append(quote("005930", OPEN_NS, 70000, 100, OPEN_NS + 5))
        records.append(gap("100000", OPEN_NS, OPEN_NS + 30 * 10**9, OPEN_NS + 31 * 10**9))
        writer = BatchWriter(db)
        first = await writer.write(_batch(records))
        assert first["ticks"] == 60
        assert first["quotes"] == 1
        assert first["gaps"] == 1
        assert first["system_events"] == 1
        second = await writer.write(_batch(records))
        assert second["ticks"] == 0
        assert second.get("bars_1m", 0) == 0
        assert await db.fetchval("SELECT count(*) FROM ticks") == 60
        volume = await db.fetchval("SELECT sum(volume) FROM bars_1m")
        assert volume == 60 * 10
    finally:
        await db.close()


async def test_a_batch_overlapping_loaded_rows_or_itself_inserts_only_the_new(
    db_settings: Settings,
) -> None:
    db = await _db(db_settings)
    try:
        records = scalp_series(2, 10)
        writer = BatchWriter(db)
        assert (await writer.write(_batch(records[:10])))["ticks"] == 10
        # half already loaded, one trade twice in the same batch, the rest new
        again = [*records[5:], records[-1]]
        result = await writer.write(_batch(again))
        assert result["ticks"] == 10
        assert await db.fetchval("SELECT count(*) FROM ticks") == 20
        keys = await db.fetchval(
            "SELECT count(DISTINCT (symbol, business_date, acc_volume)) FROM ticks"
        )
        assert keys == 20
        assert await db.fetchval("SELECT sum(volume) FROM bars_1m") == 20 * 10
    finally:
        await db.close()


async def test_bars_merge_across_batches_in_any_order(db_settings: Settings) -> None:
    db = await _db(db_settings)
    try:
        prices = [70100, 70500, 69900, 70200, 70300]
        records = [
            tick("005930", (i + 1) * 5, p, 5, OPEN_NS + i * 10**9) for i, p in enumerate(prices)
        ]
        writer = BatchWriter(db)
        await writer.write(_batch([records[3], records[1]]))
        await writer.write(_batch([records[4], records[0]]))
        await writer.write(_batch(records))  # re-run: nothing changes
        await writer.write(_batch([records[2]]))
        (bar,) = await db.fetch("SELECT * FROM bars_1m")
        assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (70100, 70500, 69900, 70300)
        assert bar["volume"] == 25
        assert bar["trade_count"] == 5
    finally:
        await db.close()


async def test_rejects_are_counted_and_bad_types_do_not_drop_the_batch(
    db_settings: Settings,
) -> None:
    db = await _db(db_settings)
    try:
        good = scalp_series(1, 3)
        bad_type = tick("000660", 10, 70000, 10, OPEN_NS)
        bad_type.data["price"] = "seventy thousand"
        no_acc = tick("000661", 10, 70000, 10, OPEN_NS)
        del no_acc.data["acc_volume"]
        batch = _batch([*good, bad_type, no_acc])
        batch.reject("bad_json")
        counts = await BatchWriter(db).write(
            batch, Checkpoint("scalp", "scalp_20260105_09.jsonl", 123, 5, OPEN_NS)
        )
        assert counts["ticks"] == 3
        assert batch.rejected == {"missing_acc_volume": 1, "refused_ticks": 1, "bad_json": 1}
        (cp,) = await db.fetch("SELECT * FROM load_checkpoints WHERE stream = 'scalp'")
        assert (cp["offset"], cp["last_seq"], cp["lines"], cp["rejected"]) == (123, 5, 6, 3)
    finally:
        await db.close()


async def test_the_ticks_table_has_the_declared_columns_and_types(db_settings: Settings) -> None:
    """The row layout (derived from the TR table) and the SQL schema cannot drift apart."""
    db = await _db(db_settings)
    try:
        rows = await db.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute"
            " WHERE attrelid = 'ticks'::regclass AND attnum > 0 AND NOT attisdropped"
            " ORDER BY attnum"
        )
    finally:
        await db.close()
    table = {r["attname"]: r["type"] for r in rows}
    aliases = {"timestamptz": "timestamp with time zone"}
    declared = {name: aliases.get(kind, kind) for name, kind in R.TICK_COLUMNS}
    assert table == declared


async def test_the_quotes_table_has_the_declared_staged_columns(db_settings: Settings) -> None:
    """The quote fields (derived from the KIS quote fields) are columns of ``quotes``, typed as
    declared."""
    db = await _db(db_settings)
    try:
        rows = await db.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute"
            " WHERE attrelid = 'quotes'::regclass AND attnum > 0 AND NOT attisdropped"
        )
    finally:
        await db.close()
    table = {r["attname"]: r["type"] for r in rows}
    assert {name: table.get(name) for name, _ in R.QUOTE_FIELDS} == dict(R.QUOTE_FIELDS)


def test_tick_fields_follow_the_trade_tr_table() -> None:
    from observer.kis.tr.h0stcnt0 import ROWS

    kept = [name for _, _, name, _ in ROWS if name not in R.ARCHIVE_ONLY_FIELDS]
    wire = [name for name in kept if name not in ("symbol", "business_date")]
    names = [name for name, _ in R.TICK_FIELDS]
    assert names == wire + [name for name, _ in R.ENRICHMENT]


async def test_a_row_the_server_refuses_is_isolated_and_the_rest_loads(
    db_settings: Settings,
) -> None:
    """A NUL byte (which PostgreSQL text cannot hold) in one trade and in one system event: the
    batch is split until each is found, they go to load_rejects with the reason, the rest and
    the checkpoint commit, and loading the same batch again inserts nothing more."""
    db = await _db(db_settings)
    try:
        records = scalp_series(4, 25)
        records[37].data["trade_side"] = "1\x00"
        event = gap("100000", OPEN_NS, OPEN_NS + 10**9, OPEN_NS + 2 * 10**9)
        event.data["reason"] = "bad\x00reason"
        records.append(event)
        writer = BatchWriter(db)
        batch = _batch(records, lines=True)
        assert batch.fast is not None and batch.fast.count == 99  # not the one with the NUL
        counts = await writer.write(
            batch, Checkpoint("scalp", "scalp_20260105_09.jsonl", 99, 101, OPEN_NS)
        )
        assert counts["ticks"] == 99
        assert batch.rejected == {"refused_ticks": 1, "refused_gaps": 1, "refused_system_events": 1}
        assert [r.table for r in batch.refused] == ["ticks", "system_events", "gaps"]
        rejects = await db.fetch("SELECT * FROM load_rejects ORDER BY id")
        assert [r["target"] for r in rejects] == ["ticks", "system_events", "gaps"]
        assert all(r["stream"] == "scalp" and r["sqlstate"] for r in rejects)
        assert "\\u0000" in rejects[0]["row_json"] and "0x00" in rejects[0]["reason"]
        (cp,) = await db.fetch("SELECT * FROM load_checkpoints WHERE stream = 'scalp'")
        assert (cp["offset"], cp["rejected"]) == (99, 3)
        assert await db.fetchval("SELECT count(*) FROM ticks") == 99
        assert await db.fetchval("SELECT sum(trade_count) FROM bars_1m") == 99
        again = await writer.write(_batch(records, lines=True))
        assert again["ticks"] == 0
        assert await db.fetchval("SELECT count(*) FROM ticks") == 99
    finally:
        await db.close()


def test_the_pipeline_reads_only_declared_trade_fields() -> None:
    """The pipeline's checks of a trade name their fields as text: each must be a field of the
    TR table (or of the enrichment), and its trade TR ids those of the table."""
    import inspect

    from observer.kis.tr.h0stcnt0 import LAYOUT
    from observer.pipeline import process

    source = inspect.getsource(process.Pipeline._tick)
    read = set(re.findall(r'data(?:\.get\(|\[)"(\w+)"', source))
    declared = {name for _, _, name, _ in LAYOUT.rows} | {name for name, _ in R.ENRICHMENT}
    assert read and read <= declared, read - declared
    assert set(LAYOUT.tr_ids) == process.TRADE_TR_IDS == R.TICK_TR_IDS
