"""The trades' binary COPY fast path (store/tickcopy.py and its C extension) against the general
path (orjson, rows.tick_row, asyncpg's encoding): the same ``ticks`` and ``bars_1m``
either way, duplicates and overlapping batches, the lines it must refuse, and that it never
raises nor takes a line the general path would read differently."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from observer.config.settings import Settings
from observer.store import rows as R
from observer.store import tickcopy
from observer.store.batch import BatchWriter, RowBatch, connect_writer
from observer.store.connection import Database
from observer.store.migrations import migrate
from observer.store.tickcopy import TickCopy
from tests.store.samples import OPEN_NS, tick

Rec = dict[str, Any]
Tables = dict[str, list[dict[str, Any]]]

needs_extension = pytest.mark.skipif(
    not tickcopy.available(),
    reason="the _tickcopy extension is not built (no C compiler at install): no fast path",
)
S: Final = 10**9
DAY: Final = "20260105"
A, B, C = "005930", "000660", "035720"
ORDER: Final = {
    "ticks": "symbol, business_date, acc_volume",
    "bars_1m": "symbol, business_date, bar_time",
}
PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
US: Final = timedelta(microseconds=1)


def test_the_extension_is_built() -> None:
    """`pip install` (make test, make run, the image) compiles it where a C compiler exists, as
    on every machine this project supports; without it every trade takes the slow path and the
    loader misses its throughput floor, so a missing build fails here instead of passing quietly."""
    assert tickcopy.available(), "observer.store._tickcopy did not build: is gcc installed?"
    assert tickcopy.fast_path_active()  # and it agrees with the layout in rows.py


def test_a_refused_layout_is_retried_on_every_call_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An extension that refuses the layout (a stand-in: the built one accepts it) leaves the
    fast path off without sticking: every call tries again, and the log says it once, not once
    per trade line."""

    class Refusing:
        HEADER = R.TICK_HEADER
        calls = 0
        accept = False

        def configure(self, fields: object, tr_ids: object) -> None:
            Refusing.calls += 1
            if not Refusing.accept:
                raise ValueError("unknown kind")

    monkeypatch.setattr(tickcopy, "_tickcopy", Refusing())
    monkeypatch.setattr(tickcopy, "_configured", [])
    monkeypatch.setattr(tickcopy, "_reported", set())
    with caplog.at_level("ERROR", logger=tickcopy.__name__):
        assert [tickcopy.fast_path_active() for _ in range(3)] == [False, False, False]
    assert Refusing.calls == 3
    assert [r.getMessage() for r in caplog.records] == [
        "the _tickcopy extension refused the trade layout (unknown kind); fast path off"
    ]
    Refusing.accept = True
    assert tickcopy.fast_path_active() and Refusing.calls == 4


# -- records and lines ---------------------------------------------------------------------------


def _rec(symbol: str, acc: int, price: int, at_ns: int, seq: int = 1, volume: int = 10) -> Rec:
    """A parsed archive line of a complete trade, as the service writes it."""
    record = tick(symbol, acc, price, volume, at_ns)
    record.seq = seq
    parsed: Rec = orjson.loads(record.to_line())
    return parsed


def _at(minute: int, second: int = 0) -> int:
    """Receive time ``minute`` minutes and ``second`` seconds after 09:00 KST of DAY."""
    return OPEN_NS + (minute * 60 + second) * S


def _line(rec: Rec) -> bytes:
    """The archive line of ``rec`` (without its newline, as the loader hands it over)."""
    return orjson.dumps(rec)


def _data(rec: Rec, **fields: Any) -> Rec:
    rec["data"].update(fields)
    return rec


def _without(rec: Rec, *names: str) -> Rec:
    for name in names:
        rec["data"].pop(name)
    return rec


def _top(rec: Rec, **fields: Any) -> Rec:
    rec.update(fields)
    return rec


def _accepted() -> list[bytes]:
    """Lines of DAY's trades in every shape the fast path takes (each bar has one session id,
    a price and a volume, so the extension aggregates the bars too)."""
    reordered = _rec(C, 1080, 70500, _at(6, 20))
    reordered["data"] = dict(reversed(list(reordered["data"].items())))
    reordered["data"]["extra"] = {"not": ["a", {"field": None}], "n": -1.5e-3}
    reordered["extra"] = True
    bare = _rec(C, 1050, 70300, _at(0, 28))
    del bare["seq"], bare["raw"], bare["v"]
    return [
        _line(_rec(A, 10, 70000, _at(0, 1))),
        _line(_data(_rec(A, 20, 70300, _at(0, 15)), vwap=None, halted=None, market=None)),
        _line(_without(_rec(A, 30, 69900, _at(0, 40)), "strength", "tick_size", "trade_side")),
        _line(_data(_rec(A, 40, 70100, _at(1, 5)), trade_ts=None)),
        _line(_data(_rec(A, 50, 70200, _at(1, 30)), trade_ts="2026-01-05T09:01:30+09:00")),
        _line(_data(_rec(A, 60, 70250, _at(1, 45)), trade_ts="2026-01-05T09:01:45.123+09:00")),
        _line(_data(_rec(A, 70, 70150, _at(2, 10)), trade_ts="2026-01-04T19:02:10.5-05:00")),
        _line(_data(_rec(A, 80, 70050, _at(2, 20)), trade_ts="2026-01-05T00:02:20.000001+00:00")),
        _line(_data(_rec(A, 90, 70000, _at(2, 50)), trade_ts="2026-01-05T05:32:50.25+05:30")),
        _line(_data(_rec(A, 95, 70000, _at(8, 0)), trade_ts="2026-01-05T09:08:00.999999+15:59")),
        _line(_data(_rec(A, 97, 70000, _at(8, 1)), trade_ts="0001-01-02T00:00:00.5+09:00")),
        _line(_top(_rec(B, 100, 120000, _at(0, 2)), flags=["reconnect"])),
        _line(_top(_rec(B, 110, 120100, _at(0, 30)), flags=["late", "x y"], mitigation=2)),
        _line(_top(_rec(B, 120, 119900, _at(0, 50)), flags=[], mitigation=3)),
        _line(_top(_rec(B, 130, 120000, _at(3, 0)), session_id="20260105_custom")),
        _line(_data(_rec(B, 140, 120000, _at(4, 0)), session="", session_code="2")),
        _line(_data(_rec(B, 150, 120500, _at(5, 10)), session=None, session_code=None)),
        _line(_without(_rec(B, 155, 120400, _at(6, 20)), "session")),
        _line(_top(_rec(B, 160, 120000, _at(0, 55)), session_id="")),
        _line(
            _data(
                _rec(C, 1010, 70000, _at(0, 20)),
                change_rate=1,
                vwap=70000,
                strength=0,
                turnover=-3,
                buy_ratio=2**60 + 1,
            )
        ),
        _line(_top(_rec(C, 1030, 70200, _at(0, 26)), v=2)),
        _line(_top(_rec(C, 1040, 70000, _at(0, 27)), seq=None)),
        _line(bare),
        _line(_top(_rec(C, 1060, 70000, _at(6, 0)), raw=None, tr_id="H0NXCNT0", source="kis")),
        _line(
            _data(
                _rec(C, 1070, 70000, _at(6, 10)),
                acc_value=2**63 - 1,
                change=-(2**31),  # an integer column's extremes
                vi_base_price=2**31 - 1,
                open=0,
                high=-1,
                change_rate=-0.0,
                vwap=1e300,
                strength=5e-324,
                halted=True,
                market="",
                trade_time="",
            )
        ),
        _line(reordered),
        json.dumps(_rec(C, 1090, 70100, _at(6, 30)), separators=(" ,\t", " :\r ")).encode(),
        _line(_top(_rec("", 1, 1000, _at(0, 5)), raw="")),  # an empty symbol is still text
    ]


def _refused() -> list[bytes]:
    """Lines the general path loads but the fast path must leave to it (some share a minute
    and symbol with accepted ones, so the batch mixes both ways)."""
    no_day = _rec(B, 115, 120000, _at(0, 40))
    del no_day["data"]["business_date"]  # the general path takes the day of ``ts``
    twice = _line(_rec(C, 1005, 70000, _at(0, 4))).replace(
        b'"price":70000,', b'"price":1,"price":70000,'
    )  # a repeated key: orjson keeps the last
    assert twice.count(b'"price"') == 2
    return [
        _line(_data(_rec(A, 25, 70400, _at(0, 20)), trade_ts="2026-01-05 09:00:20+09:00")),
        _line(_data(_rec(A, 45, 70000, _at(1, 10)), trade_ts="2026-01-05T00:01:10Z")),
        _line(_data(_rec(A, 65, 70300, _at(1, 50)), trade_ts="2026-01-05T09:01:50.1234567+09:00")),
        _line(_data(_rec(A, 75, 70000, _at(2, 15)), trade_ts="2026-01-05T09:02:15+0900")),
        _line(_data(_rec(A, 85, 70000, _at(7, 59)), trade_ts="2026-01-05T09:07:59.9999995+09:00")),
        _line(no_day),
        _line(_data(_rec(B, 165, 120000, _at(5, 10)), trade_ts="2026-01-05T09:05:10+09")),
        _line(_data(_rec(C, 1000, 70000, _at(0, 3)), market="코스피", trade_side="매수")),
        _line(_top(_rec(C, 1001, 70000, _at(0, 3)), raw="삼성전자^090003^70000^1001")),
        json.dumps(_data(_rec(C, 1002, 70000, _at(0, 3)), market="코스닥")).encode(),  # \uXXXX
        _line(_top(_rec(C, 1003, 70000, _at(0, 3)), raw='quote " and \\ backslash')),
        _line(_rec("한글01", 1, 5000, _at(0, 5))),
        twice,
        _line(_data(_rec(C, 1100, 70000, _at(7, 0)), business_date="20260106")),
        _line(_top(_rec(C, 1025, 70000, _at(0, 25)), recv_ns=2**62 + 123)),
        _line(_data(_rec(C, 1026, 70000, _at(0, 25)), vwap=2**64 - 1)),  # int8 overflow as float
        # JSON with newlines inside: never an archive line, but orjson reads it
        json.dumps(_rec(C, 1027, 70100, _at(6, 30)), indent=1).encode(),
    ]


def _varied() -> tuple[list[bytes], list[bytes]]:
    """(every line, the lines the fast path must refuse), interleaved, the first one taken."""
    accepted, refused = _accepted(), _refused()
    return [accepted[0], *refused, *accepted[1:]], refused


def _series(count: int, symbols: tuple[str, ...] = (A, B)) -> list[bytes]:
    """``count`` trades per symbol, every 7 s (several per minute), prices up and down."""
    out = []
    for i in range(count):
        for s, symbol in enumerate(symbols):
            price = 70000 + ((i * 37) % 11 - 5) * 100
            at = _at(0, i * 7) + s
            out.append(_line(_rec(symbol, (i + 1) * 10, price, at, i * 10 + s, 10 + i % 3)))
    return out


def _add_line(batch: RowBatch, line: bytes) -> None:
    """One line as the loader adds it: through the fast path if it takes it, else parsed."""
    if not batch.take_lines(line + b"\n", 0, 1):
        batch.parse_and_add(line)


def _add_one(copy: TickCopy, line: bytes) -> tuple[int | None, int | None] | None:
    """One archive line through the fast path: its (seq, recv_ns) when taken, else None."""
    if b"\n" in line:  # not one archive line
        return None
    _, taken, seq, recv_ns = copy.add_lines(line + b"\n", 0, 1)
    assert taken in (0, 1)
    return (seq, recv_ns) if taken else None


def _batch(lines: list[bytes], *, use_fast: bool = True) -> RowBatch:
    """The lines as one batch, as the loader adds them or (not ``use_fast``) all parsed and
    added the general way."""
    batch = RowBatch()
    for line in lines:
        if use_fast:
            _add_line(batch, line)
        elif (rec := batch.parse(line)) is not None:
            batch.add(rec, line)
    return batch


# -- the database --------------------------------------------------------------------------------


async def _db(settings: Settings) -> Database:
    """A connection to the migrated test database, set up like the loader's."""
    await migrate(settings)
    return await connect_writer(settings, "test")


async def _tables(db: Database) -> Tables:
    """Every row of ``ticks`` and ``bars_1m``, in key order."""
    return {
        table: [dict(row) for row in await db.fetch(f"SELECT * FROM {table} ORDER BY {order}")]  # noqa: S608
        for table, order in ORDER.items()
    }


async def _general_load(db: Database, lines: list[bytes]) -> tuple[dict[str, int], Tables]:
    """Counts and tables after loading ``lines`` in one general-path batch into empty tables."""
    await db.execute("TRUNCATE ticks, bars_1m")
    batch = _batch(lines, use_fast=False)
    assert batch.fast is None
    counts = await BatchWriter(db).write(batch)
    return counts, await _tables(db)


async def _both_ways(
    settings: Settings, fast: RowBatch, lines: list[bytes]
) -> tuple[dict[str, int], Tables, dict[str, int], Tables]:
    """Counts and tables after writing the fast batch ``fast``, then after loading ``lines``
    in one general-path batch instead."""
    db = await _db(settings)
    try:
        fast_counts = await BatchWriter(db).write(fast)
        fast_tables = await _tables(db)
        general_counts, general_tables = await _general_load(db, lines)
    finally:
        await db.close()
    return fast_counts, fast_tables, general_counts, general_tables


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (so 0.0 and -0.0, 1 and 1.0 differ)."""
    return type(a) is type(b) and a == b and repr(a) == repr(b)


def _differences(fast: Tables, general: Tables) -> list[tuple[Any, ...]]:
    """(table, key, column, fast value, general value) of every cell that differs."""
    found: list[tuple[Any, ...]] = []
    for table, rows in fast.items():
        other = general[table]
        if len(rows) != len(other):
            found.append((table, "row count", len(rows), len(other)))
        keys = ORDER[table].split(", ")
        for mine, theirs in zip(rows, other, strict=False):
            key = tuple(mine[k] for k in keys)
            for column, value in mine.items():
                if not _same(value, theirs[column]):
                    found.append((table, key, column, value, theirs[column]))
    return found


# -- 1. the same rows both ways ------------------------------------------------------------------


@needs_extension
@pytest.mark.db
async def test_fast_and_general_paths_load_the_same_rows(db_settings: Settings) -> None:
    lines, refused = _varied()
    fast = _batch(lines)
    assert fast.fast is not None and fast.fast.day == DAY
    assert fast.fast.count == len(lines) - len(refused)
    # a mixed batch: what the extension refused went the general way, as rows
    assert fast.rows["ticks"] == [R.tick_row(orjson.loads(line)) for line in refused]
    assert fast.rejected == {} and fast.records == len(lines)
    fast_counts, fast_tables, general_counts, general_tables = await _both_ways(
        db_settings, fast, lines
    )
    assert _differences(fast_tables, general_tables) == []
    assert fast_counts["ticks"] == general_counts["ticks"] == len(lines)
    # and both are right, not merely alike
    by_acc = {(t["symbol"], t["acc_volume"]): t for t in fast_tables["ticks"]}
    assert by_acc[A, 70]["trade_ts"] == datetime(2026, 1, 5, 0, 2, 10, 500000, tzinfo=UTC)
    assert by_acc[A, 45]["trade_ts"] == datetime(2026, 1, 5, 0, 1, 10, tzinfo=UTC)
    assert by_acc[B, 110]["mitigation_level"] == 2 and by_acc[B, 100]["mitigation_level"] == 1
    assert by_acc[B, 140]["session_id"] == "20260105_2"
    assert by_acc[B, 150]["session_id"] == DAY
    assert by_acc[C, 1000]["market"] == "코스피"
    assert by_acc[C, 1002]["market"] == "코스닥"
    assert by_acc[C, 1005]["price"] == 70000
    assert by_acc[C, 1010]["buy_ratio"] == float(2**60)
    assert by_acc[C, 1100]["business_date"] == date(2026, 1, 6)
    assert by_acc[C, 1050]["schema_version"] == 1 and by_acc[C, 1030]["schema_version"] == 2
    assert by_acc[C, 1040]["seq"] is None and "raw" not in by_acc[C, 1050]


@needs_extension
@pytest.mark.db
async def test_a_mixed_batch_counts_each_bar_once(db_settings: Settings) -> None:
    lines, _ = _varied()
    db = await _db(db_settings)
    try:
        fast_counts = await BatchWriter(db).write(_batch(lines))
        general_counts, _ = await _general_load(db, lines)
    finally:
        await db.close()
    assert fast_counts == general_counts


@needs_extension
@pytest.mark.db
async def test_a_bar_fed_both_ways_gets_the_session_id_of_one_general_batch(
    db_settings: Settings,
) -> None:
    lines = [  # the session changes within a minute; the later trade goes the general way
        _line(_top(_rec(A, 10, 70000, _at(0, 1)), session_id="20260105_regular")),
        _line(_top(_rec(A, 20, 70100, _at(0, 2)), session_id="20260105_closing", raw="종가")),
    ]
    fast = _batch(lines)
    assert fast.fast is not None and fast.fast.count == 1 and len(fast.rows["ticks"]) == 1
    db = await _db(db_settings)
    try:
        await BatchWriter(db).write(fast)
        fast_tables = await _tables(db)
        _, general_tables = await _general_load(db, lines)
    finally:
        await db.close()
    assert _differences(fast_tables, general_tables) == []


@needs_extension
@pytest.mark.db
async def test_bars_of_unusual_trades_are_the_same(
    db_settings: Settings,
) -> None:
    lines = [
        _line(_rec(A, 10, 70000, _at(0, 1))),
        _line(_top(_rec(A, 20, 70100, _at(0, 2)), session_id="20260105_other")),
        _line(_data(_rec(A, 30, 69900, _at(0, 3)), session="closing")),
        _line(_data(_rec(A, 40, 70000, _at(1, 3)), price=None)),
        _line(_data(_rec(A, 50, 70000, _at(1, 4)), trade_volume=None)),
        _line(_rec("X" * 30, 1, 5000, _at(2, 0))),  # a symbol longer than the extension keeps
        _line(_top(_rec(B, 10, 1000, _at(2, 0)), session_id="s" * 60)),
        _line(_rec(B, 20, 1000, _at(2, 1))),
    ]
    fast = _batch(lines)
    assert fast.fast is not None and fast.fast.count == len(lines)
    fast_counts, fast_tables, general_counts, general_tables = await _both_ways(
        db_settings, fast, lines
    )
    assert _differences(fast_tables, general_tables) == []
    assert fast_counts == general_counts


# -- 2. loading the same lines twice -------------------------------------------------------------


@needs_extension
@pytest.mark.db
async def test_loading_the_same_lines_twice_inserts_nothing_more(db_settings: Settings) -> None:
    lines, refused = _varied()
    db = await _db(db_settings)
    try:
        writer = BatchWriter(db)
        assert (await writer.write(_batch(lines)))["ticks"] == len(lines)
        loaded = await _tables(db)
        again = _batch(lines)
        assert again.fast is not None and again.fast.count == len(lines) - len(refused)
        second = await writer.write(again)
        assert second["ticks"] == 0
        assert second.get("bars_1m", 0) == 0
        assert _differences(await _tables(db), loaded) == []
        # another writer (its staging tables created anew) changes nothing either
        assert (await BatchWriter(db).write(_batch(lines)))["ticks"] == 0
        assert _differences(await _tables(db), loaded) == []
    finally:
        await db.close()


# -- 3. a batch overlapping rows already loaded --------------------------------------------------


@needs_extension
@pytest.mark.db
async def test_an_overlapping_batch_inserts_only_the_new_lines(db_settings: Settings) -> None:
    lines = _series(12)
    old, new = lines[:14], lines[14:]
    overlapping = [*lines[6:14], *new, new[0]]  # loaded ones, new ones, one of them twice
    db = await _db(db_settings)
    try:
        writer = BatchWriter(db)
        assert (await writer.write(_batch(old)))["ticks"] == len(old)
        batch = _batch(overlapping)
        assert batch.fast is not None and batch.fast.count == len(overlapping)
        assert (await writer.write(batch))["ticks"] == len(new)
        loaded = await _tables(db)
        _, whole = await _general_load(db, lines)
    finally:
        await db.close()
    assert _differences(loaded, whole) == []
    assert len(loaded["ticks"]) == len(lines)
    assert sum(bar["trade_count"] for bar in loaded["bars_1m"]) == len(lines)


# -- 4. one day split across batches -------------------------------------------------------------


@needs_extension
@pytest.mark.db
async def test_batches_of_a_split_day_merge_into_the_bars_of_one_batch(
    db_settings: Settings,
) -> None:
    lines = _series(30, (A, B, C))
    # out of order: the middle first, the start last, minutes cut across batches
    parts = [lines[30:60], lines[60:], lines[:30]]
    db = await _db(db_settings)
    try:
        writer = BatchWriter(db)
        for part in parts:
            batch = _batch(part)
            assert batch.fast is not None and batch.fast.count == len(part)
            assert (await writer.write(batch))["ticks"] == len(part)
        split = await _tables(db)
        _, whole = await _general_load(db, lines)
    finally:
        await db.close()
    assert _differences(split, whole) == []
    bars = split["bars_1m"]
    assert len(bars) == 3 * 4  # 30 trades 7 s apart span four minutes per symbol
    assert sum(bar["trade_count"] for bar in bars) == len(lines)
    first = next(bar for bar in bars if bar["symbol"] == A)
    minute = [orjson.loads(line)["data"] for line in lines[::3][:9]]  # A's trades at 0..56 s
    assert (first["open"], first["close"]) == (minute[0]["price"], minute[-1]["price"])
    assert first["high"] == max(d["price"] for d in minute)
    assert first["low"] == min(d["price"] for d in minute)
    assert first["volume"] == sum(d["trade_volume"] for d in minute)
    assert first["trade_count"] == 9


SYMBOLS: Final = tuple(f"{100000 + i:06d}" for i in range(12))


@needs_extension
def test_a_chunk_of_lines_is_taken_as_line_by_line() -> None:
    """RowBatch.take_lines (the loader's loop, one call per chunk) gathers the same rows as
    the fast path one line at a time, stops at the first line it refuses and at ``most``, and steps
    over empty lines."""
    lines = _series(30, SYMBOLS)
    refused = _line(_data(_rec(A, 9999, 70000, _at(3, 0)), market="코스피"))
    data = b"\n".join([*lines[:100], b"", *lines[100:200], refused, *lines[200:]]) + b"\nPARTIAL"
    one_by_one = _batch([line for line in data.split(b"\n")[:-1] if line])
    batch = RowBatch()
    _add_line(batch, lines[0])  # the first trade fixes the day
    pos = len(lines[0]) + 1
    pos = batch.take_lines(data, pos, 50)
    assert batch.records == 51 and data[:pos].count(b"\n") == 51  # stopped at ``most``
    pos = batch.take_lines(data, pos, 10**6)
    assert data[pos:].startswith(refused + b"\n")  # stopped before the refused line
    assert batch.records == 200 and data[:pos].count(b"\n") == 201  # the empty line too
    _add_line(batch, refused)
    pos = batch.take_lines(data, pos + len(refused) + 1, 10**6)
    assert data[pos:] == b"PARTIAL"  # never an incomplete line
    assert batch.fast is not None and one_by_one.fast is not None
    assert (batch.records, batch.last_seq, batch.last_recv_ns, batch.rows) == (
        one_by_one.records,
        one_by_one.last_seq,
        one_by_one.last_recv_ns,
        one_by_one.rows,
    )
    assert (batch.fast.rows, batch.fast.bars) == (one_by_one.fast.rows, one_by_one.fast.bars)


# -- 5. lines the fast path refuses -------------------------------------------------------------


def _edited(edit: Callable[[Rec], Any]) -> bytes:
    """The line of a good trade of DAY after ``edit``."""
    rec = _rec(A, 20, 70100, _at(0, 2))
    edit(rec)
    return _line(rec)


def _text(old: bytes, new: bytes) -> bytes:
    """The line of a good trade of DAY with ``old`` (which it holds once) replaced by ``new``."""
    line = _line(_rec(A, 20, 70100, _at(0, 2)))
    assert line.count(old) == 1
    return line.replace(old, new)


REFUSED: Final[dict[str, bytes]] = {
    "another business day": _edited(lambda r: r["data"].update(business_date="20260106")),
    "business_date missing": _edited(lambda r: r["data"].pop("business_date")),
    "acc_volume missing": _edited(lambda r: r["data"].pop("acc_volume")),
    "acc_volume null": _edited(lambda r: r["data"].update(acc_volume=None)),
    "bool for a bigint": _edited(lambda r: r["data"].update(price=True)),
    "bool for seq": _edited(lambda r: r.update(seq=False)),
    "bool for mitigation": _edited(lambda r: r.update(mitigation=True)),
    "int for a boolean": _edited(lambda r: r["data"].update(halted=1)),
    "float for a bigint": _edited(lambda r: r["data"].update(price=70100.0)),
    "exponent for a bigint": _text(b'"price":70100', b'"price":701e2'),
    "int beyond int64": _edited(lambda r: r["data"].update(acc_value=2**63)),
    "int beyond an integer column": _edited(lambda r: r["data"].update(price=2**31)),
    "int below an integer column": _edited(lambda r: r["data"].update(change=-(2**31) - 1)),
    "int below int64": _text(b'"change":100', b'"change":-9223372036854775809'),
    "int beyond uint64 for a float": _text(b'"turnover":0.01', b'"turnover":18446744073709551616'),
    "recv_ns beyond int64": _edited(lambda r: r.update(recv_ns=2**64 - 1)),
    "negative recv_ns": _edited(lambda r: r.update(recv_ns=-1)),
    "version beyond smallint": _edited(lambda r: r.update(v=2**15)),
    "version null": _edited(lambda r: r.update(v=None)),
    "mitigation null": _edited(lambda r: r.update(mitigation=None)),
    "NUL in a data text": _edited(lambda r: r["data"].update(market="KO\x00SPI")),
    "NUL in raw": _edited(lambda r: r.update(raw="a\x00b")),
    "NUL in a flag": _edited(lambda r: r.update(flags=["late\x00"])),
    "NUL in the session": _edited(lambda r: r["data"].update(session="reg\x00ular")),
    "non-ASCII text": _edited(lambda r: r["data"].update(trade_side="매수")),
    "escaped ASCII text": _text(b'"market":"KOSPI"', b'"market":"KOSP\\u0049"'),
    "escaped key": _text(b'"price":', b'"pric\\u0065":'),
    "int for a text": _edited(lambda r: r["data"].update(trade_side=1)),
    "str for a float": _edited(lambda r: r["data"].update(vwap="70000.5")),
    "str for a bigint": _edited(lambda r: r["data"].update(price="70000")),
    "flags not a list": _edited(lambda r: r.update(flags="late")),
    "a number among the flags": _edited(lambda r: r.update(flags=["late", 1])),
    "int session_id": _edited(lambda r: r.update(session_id=7)),
    "int session": _edited(lambda r: r["data"].update(session=0)),
    "symbol missing": _edited(lambda r: r.pop("symbol")),
    "int symbol": _edited(lambda r: r.update(symbol=5930)),
    "data a list": _edited(lambda r: r.update(data=[1, 2])),
    "data null": _edited(lambda r: r.update(data=None)),
    "data a str": _edited(lambda r: r.update(data="trade")),
    "data twice": _text(b'"data":{', b'"data":{},"data":{'),
    "a repeated data key": _text(b'"acc_volume":20,', b'"acc_volume":20,"acc_volume":30,'),
    "a swing record": _edited(lambda r: r.update(stream="swing")),
    "another TR": _edited(lambda r: r.update(tr_id="H0STASP0")),
    "trade_ts with a space": _edited(lambda r: r["data"].update(trade_ts="2026-01-05 09:00:02")),
    "trade_ts in UTC as Z": _edited(lambda r: r["data"].update(trade_ts="2026-01-05T00:00:02Z")),
    "trade_ts without offset": _edited(lambda r: r["data"].update(trade_ts="2026-01-05T09:00")),
    "trade_ts of no date": _edited(
        lambda r: r["data"].update(trade_ts="2026-02-30T09:00:02+09:00")
    ),
    "trade_ts a number": _edited(lambda r: r["data"].update(trade_ts=1767571202)),
    "nested deeper than the scanner goes": _edited(
        lambda r: r["data"].update(extra=json.loads("[" * 40 + "]" * 40))
    ),
    "not JSON after the object": _line(_rec(A, 20, 70100, _at(0, 2))) + b"x",
    "NaN": _text(b'"vwap":70100.0', b'"vwap":NaN'),
    "a byte-order mark": b"\xef\xbb\xbf" + _line(_rec(A, 20, 70100, _at(0, 2))),
    "not an object": b"[1, 2, 3]",
    "not JSON": b"{",
}


@needs_extension
@pytest.mark.parametrize("bad", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_line_appends_nothing_and_goes_the_general_way(bad: bytes) -> None:
    good = _line(_rec(A, 10, 70000, _at(0, 1)))
    copy = TickCopy.for_record(orjson.loads(good))
    assert copy is not None and _add_one(copy, good) is not None
    before = (bytes(copy.rows), bytes(copy.bars), copy.count)
    assert _add_one(copy, bad) is None
    assert (bytes(copy.rows), bytes(copy.bars), copy.count) == before
    fast, general = _batch([good, bad]), _batch([good, bad], use_fast=False)
    assert fast.fast is not None and fast.fast.count == 1
    assert (fast.records, fast.rejected, fast.skipped) == (
        general.records,
        general.rejected,
        general.skipped,
    )
    assert fast.rows == {**general.rows, "ticks": general.rows["ticks"][1:]}
    assert (fast.last_seq, fast.last_recv_ns) == (general.last_seq, general.last_recv_ns)
    assert fast.row_count == general.row_count


# -- 6. never raises; what it takes, the general path takes alike -------------------------------


def _fields(stream: bytes) -> list[bytes | None]:
    """The fields of the single binary COPY row ``stream`` holds."""
    count, pos, out = int.from_bytes(stream[:2], "big"), 2, []
    for _ in range(count):
        size = int.from_bytes(stream[pos : pos + 4], "big", signed=True)
        pos += 4
        out.append(None if size < 0 else stream[pos : pos + size])
        pos += max(size, 0)
    assert pos == len(stream)
    return out


def _last_row_start(stream: bytearray) -> int:
    """Where the last row of a binary COPY stream (header, rows, no trailer) starts."""
    pos, start = len(tickcopy.HEADER), len(tickcopy.HEADER)
    while pos < len(stream):
        start, count, pos = pos, int.from_bytes(stream[pos : pos + 2], "big"), pos + 2
        for _ in range(count):
            pos += 4 + max(int.from_bytes(stream[pos : pos + 4], "big", signed=True), 0)
    assert pos == len(stream)
    return start


def _text_array(value: bytes) -> tuple[str, ...]:
    ndim, _, oid = struct.unpack(">iii", value[:12])
    assert oid == 25  # text
    if ndim == 0:
        return ()
    count, _ = struct.unpack(">ii", value[12:20])
    out, pos = [], 20
    for _ in range(count):
        size = int.from_bytes(value[pos : pos + 4], "big", signed=True)
        out.append(value[pos + 4 : pos + 4 + size].decode())
        pos += 4 + size
    return tuple(out)


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big", signed=True)


DECODE: Final[dict[str, Callable[[bytes], Any]]] = {
    "text": bytes.decode,
    "bigint": _int,
    "integer": _int,
    "smallint": _int,
    "double precision": lambda b: b,  # compared by their bits
    "boolean": lambda b: b == b"\x01",
    "date": lambda b: date(2000, 1, 1) + timedelta(days=_int(b)),
    "timestamptz": _int,
    "text[]": _text_array,
}


def _decoded(stream: bytes, columns: R.ColumnSpec) -> dict[str, Any]:
    fields = _fields(stream)
    assert len(fields) == len(columns)
    return {
        name: None if value is None else DECODE[kind](value)
        for (name, kind), value in zip(columns, fields, strict=True)
    }


def _general_values(rec: Rec) -> dict[str, Any]:
    """The ``ticks`` and bar input columns the general path gives ``rec``, as the COPY data
    holds them (timestamps in microseconds from 2000, floats as their bits)."""
    row = R.tick_row(rec)
    values = dict(zip((name for name, _ in R.TICK_COLUMNS), row, strict=True))
    for name, kind in R.TICK_FIELDS:
        if kind == "double precision" and values[name] is not None:
            values[name] = struct.pack(">d", float(values[name]))
    ts = row[2]
    values.update(
        trade_ts=None if ts is None else (ts - PG_EPOCH) // US,
        recv_ts=(row[3] - PG_EPOCH) // US,
        flags=tuple(row[10]),
        flagged=bool(row[10]),
    )
    return values


MISSING: Final = object()
TOP_KEYS: Final = ("symbol", "recv_ns", "seq", "tr_id", "source", "v", "session_id",
                   "mitigation", "flags", "raw", "data", "stream")  # fmt: skip
DATA_KEYS: Final = (*(name for name, _ in R.TICK_FIELDS), "business_date", "trade_ts")
NUMBER_TEXT: Final = st.from_regex(
    r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?", fullmatch=True
)


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    """Trade times in forms the fast path takes and forms it does not."""
    day = draw(st.sampled_from(["2026-01-05", "2026-02-29", "2024-02-29", "0001-01-02"]))
    clock = f"{draw(st.integers(0, 24)):02d}:{draw(st.integers(0, 59)):02d}"
    second = f"{draw(st.integers(0, 60)):02d}"
    frac = draw(st.sampled_from(["", ".5", ".123", ".123456", ".1234567", "."]))
    sign, hours, minutes = (
        draw(st.sampled_from("+-")),
        draw(st.integers(0, 16)),
        draw(st.integers(0, 60)),
    )
    offset = draw(
        st.sampled_from([f"{sign}{hours:02d}:{minutes:02d}", "Z", "", f"{sign}{hours:02d}"])
    )
    return f"{day}{draw(st.sampled_from('TT '))}{clock}:{second}{frac}{offset}"


WILD: Final = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.lists(st.text(max_size=3), max_size=2)
    | NUMBER_TEXT
    | st.just(MISSING)
)
ASCII: Final = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6)
INT64: Final = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Values of a column's own type (the fast path takes them) or anything at all.
PLAUSIBLE: Final[dict[str, st.SearchStrategy[Any]]] = {
    "text": ASCII | st.none(),
    "bigint": INT64 | st.none(),
    "integer": st.integers(-(2**31), 2**31 - 1) | INT64 | st.none(),
    "double precision": st.floats(allow_nan=False, allow_infinity=False) | INT64 | NUMBER_TEXT,
    "boolean": st.booleans() | st.none(),
    "smallint": st.integers(-(2**15), 2**15 - 1),
    "text[]": st.lists(ASCII, max_size=3) | st.none(),
}
KINDS: Final = {
    **dict(R.TICK_FIELDS), "business_date": "text", "trade_ts": "text", "symbol": "text",
    "recv_ns": "bigint", "seq": "bigint", "tr_id": "text", "source": "text", "v": "smallint",
    "session_id": "text", "mitigation": "smallint", "flags": "text[]", "raw": "text",
    "stream": "text",
}  # fmt: skip

SPECIAL: Final[dict[str, st.SearchStrategy[Any]]] = {
    "business_date": st.just(DAY) | ASCII,
    "stream": st.just("scalp") | ASCII,
    "tr_id": st.sampled_from(sorted(R.TICK_TR_IDS)) | ASCII,
    "recv_ns": st.integers(-1, 2**62 + 1),
}


def _is_number(value: str) -> bool:
    """True when ``value`` is the text of a JSON number."""
    try:
        return type(orjson.loads(value)) in (int, float) and value.strip() == value
    except orjson.JSONDecodeError:
        return False


def _dumps(rec: Rec, style: str) -> str:
    if style == "orjson":
        try:
            return orjson.dumps(rec).decode()
        except TypeError:  # an int beyond 64 bits
            style = "compact"
    separators = (",", ":") if style == "compact" else (", ", ": ")
    return json.dumps(rec, ensure_ascii=style == "ascii", separators=separators)


@st.composite
def _mutated_line(draw: st.DrawFn) -> bytes:
    """The line of a trade of DAY with a few top-level and data fields replaced or removed,
    written in one of several JSON styles (numbers also as any JSON number text)."""
    rec = _rec(A, 10, 70000, _at(0, 1))
    numbers: list[str] = []

    def put(target: dict[str, Any], key: str) -> None:
        values = SPECIAL.get(key, PLAUSIBLE[KINDS[key]]) if draw(st.integers(0, 3)) else WILD
        value = draw(_timestamps() | values if key == "trade_ts" else values)
        if value is MISSING:
            target.pop(key, None)
        elif isinstance(value, str) and _is_number(value) and draw(st.booleans()):
            target[key] = f"@@{len(numbers)}@@"  # the number text goes in as it is
            numbers.append(value)
        else:
            target[key] = value

    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(TOP_KEYS))
        if key != "data":
            put(rec, key)
    data = rec["data"]
    for _ in range(draw(st.integers(0, 6))):
        put(data, draw(st.sampled_from(DATA_KEYS)))
    if draw(st.booleans()):
        rec["data"] = {k: data[k] for k in draw(st.permutations(list(data)))}
    text = _dumps(rec, draw(st.sampled_from(["orjson", "compact", "spaced", "ascii"])))
    for i, number in enumerate(numbers):
        text = text.replace(f'"@@{i}@@"', number)
    return text.encode()


@needs_extension
@settings(max_examples=200, deadline=None)
@given(_mutated_line())
def test_what_the_fast_path_takes_the_general_path_reads_alike(line: bytes) -> None:
    copy = TickCopy(DAY, tickcopy.day_value(DAY) or 0)
    assert _add_one(copy, _line(_rec(B, 1, 70000, _at(0, 0)))) is not None
    before = (bytes(copy.rows), bytes(copy.bars), copy.count)
    got = _add_one(copy, line)
    event("taken" if got is not None else "refused")
    if got is None:
        assert (bytes(copy.rows), bytes(copy.bars), copy.count) == before
        return
    rows, bars = copy.rows, copy.bars
    rows_at, bars_at = _last_row_start(rows), _last_row_start(bars)
    rec = orjson.loads(line)
    assert isinstance(rec, dict)
    seq = rec.get("seq")
    assert got == (seq if isinstance(seq, int) else None, rec["recv_ns"])
    expected = _general_values(rec)
    for stream, columns in (
        (rows[rows_at:], R.TICK_COLUMNS),
        (bars[bars_at:], R.BAR_TICK_COLUMNS),
    ):
        decoded = _decoded(bytes(stream), columns)
        assert {name: decoded[name] for name, _ in columns} == {
            name: expected[name] for name, _ in columns
        }
