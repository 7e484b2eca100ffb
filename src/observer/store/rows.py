"""Archive records -> table rows: the column layout of every table the loader writes and the
one function per table that turns a parsed archive record into a row tuple.

``ticks`` rows are typed like the table (``TICK_COLUMNS``, derived from the TR table) and go
by binary COPY; the other tables' rows are staged with dates and times as text, cast by the
server in their ``INSERT ... SELECT`` (:mod:`observer.store.statements`). Rows are built with
as little Python per record as possible (one ``itemgetter`` call for the typed fields). A
record that cannot become a row raises :class:`RowError` with the reason, and is counted as
rejected.
"""

from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any, Final

import orjson

from observer.kis.quotes import ORDER as QUOTE_ORDER
from observer.kis.tr import yes_no
from observer.kis.tr.h0stcnt0 import LAYOUT as TRADE_LAYOUT

Row = tuple[Any, ...]
ColumnSpec = tuple[tuple[str, str], ...]

# The trade record is declared once, in the TR table (kis/tr/h0stcnt0.py). Its typed fields
# become ``ticks`` columns in wire order (symbol and business_date lead every row, in the
# header; the archive-only ones below are left out), typed by their parser; these are stored
# narrower (KRW prices, price differences and per-day trade counts stay far below 2^31;
# volumes, sizes and values do not).
INTEGER_FIELDS: Final = frozenset(
    {"price", "change", "open", "high", "low", "ask1", "bid1", "sell_count", "buy_count",
     "net_buy_count", "vi_base_price", "tick_size"}
)  # fmt: skip
# Fields only the archive keeps: the price against the day's open, high and low (and their
# signs) follow from ``price`` and ``open``/``high``/``low``.
ARCHIVE_ONLY_FIELDS: Final = frozenset(
    {"open_vs_price_sign", "open_vs_price", "high_vs_price_sign", "high_vs_price",
     "low_vs_price_sign", "low_vs_price"}
)  # fmt: skip
_PARSER_TYPES: Final = {int: "bigint", float: "double precision", str: "text", yes_no: "boolean"}
# What the pipeline adds to every trade (pipeline/enrich.py).
ENRICHMENT: Final[ColumnSpec] = (("market", "text"), ("session", "text"), ("tick_size", "integer"))
TICK_FIELDS: Final[ColumnSpec] = (
    *(
        (name, "integer" if name in INTEGER_FIELDS else _PARSER_TYPES[parser])
        for _, _, name, parser in TRADE_LAYOUT.rows
        if name not in ("symbol", "business_date") and name not in ARCHIVE_ONLY_FIELDS
    ),
    *ENRICHMENT,
)
# What every market record carries besides its symbol, day, times and fields.
RECORD_META: Final[ColumnSpec] = (
    ("seq", "bigint"),
    ("tr_id", "text"),
    ("source", "text"),
    ("schema_version", "smallint"),
    ("session_id", "text"),
    ("mitigation_level", "smallint"),
    ("flags", "text[]"),
)
# Every ticks row starts with these, typed like the table; the C extension writes the same
# header (its ``HEADER``, checked against this one before the fast path is used).
TICK_HEADER: Final[ColumnSpec] = (
    ("symbol", "text"),
    ("business_date", "date"),
    ("trade_ts", "timestamptz"),
    ("recv_ts", "timestamptz"),
    *RECORD_META,
)
# The ``ticks`` row, however it is built (tick_row here, or the extension) and however it is
# sent (binary COPY into the day partition, or into the typed staging table).
TICK_COLUMNS: Final[ColumnSpec] = TICK_HEADER + TICK_FIELDS
# A quote's fields: the KIS quote fields in their order (kis/quotes.py), between the session
# and tick size the pipeline adds; numbers are bigint but the change rate.
_QUOTE_TYPES: Final = {
    "name": "text", "market": "text", "change_sign": "text", "change_rate": "double precision"
}  # fmt: skip
QUOTE_FIELDS: Final[ColumnSpec] = (
    ("session", "text"),
    *((name, _QUOTE_TYPES.get(name, "bigint")) for name in QUOTE_ORDER),
    ("tick_size", "bigint"),
)
# The quotes row header (staging types: dates travel as text and are cast by the server).
QUOTE_HEADER: Final[ColumnSpec] = (
    ("symbol", "text"),
    ("business_date", "text"),
    ("sweep_id", "bigint"),
    ("recv_ns", "bigint"),
    *RECORD_META,
)
SYSTEM_COLUMNS: Final[ColumnSpec] = (
    ("recv_ns", "bigint"),
    ("seq", "bigint"),
    ("business_date", "text"),
    ("source", "text"),
    ("event", "text"),
    ("symbol", "text"),
    ("data", "text"),
)
GAP_COLUMNS: Final[ColumnSpec] = (
    ("recv_ns", "bigint"),
    ("seq", "bigint"),
    ("source", "text"),
    ("scope", "text"),
    ("symbol", "text"),
    ("gap_start", "text"),
    ("gap_end", "text"),
    ("reason", "text"),
    ("missed_volume", "bigint"),
    ("tr_id", "text"),
    ("session", "text"),
)
UNIVERSE_COLUMNS: Final[ColumnSpec] = (
    ("business_date", "text"),
    ("symbol", "text"),
    ("name", "text"),
    ("market", "text"),
    ("prev_close", "bigint"),
    ("origin", "text"),
)
# What the one-minute bars need of each inserted trade: the columns of stage_bar_ticks.
BAR_TICK_COLUMNS: Final[ColumnSpec] = (
    ("symbol", "text"),
    ("business_date", "date"),
    ("trade_ts", "timestamptz"),
    ("recv_ts", "timestamptz"),
    ("price", "bigint"),
    ("trade_volume", "bigint"),
    ("acc_volume", "bigint"),
    ("flagged", "boolean"),
    ("session_id", "text"),
)
STAGING: Final[dict[str, ColumnSpec]] = {
    "quotes": QUOTE_HEADER + QUOTE_FIELDS,
    "system_events": SYSTEM_COLUMNS,
    "gaps": GAP_COLUMNS,
    "universe_members": UNIVERSE_COLUMNS,
}
TICK_TR_IDS: Final = frozenset(TRADE_LAYOUT.tr_ids)
# Flags travel as tuples: a row holding only immutable atoms is untracked by the cyclic garbage
# collector, which halves the Python cost of a large batch.
_NO_FLAGS: Final[tuple[str, ...]] = ()
_TICK_VALUES = itemgetter(*(name for name, _ in TICK_FIELDS))
_ACC_VOLUME: Final = [name for name, _ in TICK_FIELDS].index("acc_volume")
_UTC_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_QUOTE_VALUES = itemgetter(*(name for name, _ in QUOTE_FIELDS))


class RowError(ValueError):
    """A record that cannot become a row; ``reason`` is a short machine-friendly label."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _kst_day(ts: Any) -> str:
    """YYYYMMDD of an ISO 8601 +09:00 timestamp (its first ten characters are the KST date)."""
    if not isinstance(ts, str) or len(ts) < 10:
        raise RowError("missing_ts")
    return ts[0:4] + ts[5:7] + ts[8:10]


def _date(day: Any) -> dt.date:
    """The business date of ``YYYYMMDD`` (or ISO ``YYYY-MM-DD``) text."""
    try:
        return dt.date.fromisoformat(day)
    except (TypeError, ValueError) as exc:
        raise RowError("bad_business_date") from exc


def _timestamp(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp (UTC when it names no offset, as the loader's sessions), or None."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise RowError("bad_trade_ts") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def recv_time(recv_ns: Any) -> dt.datetime:
    """The receive time of ``recv_ns`` to the microsecond (as the extension writes it)."""
    if type(recv_ns) is not int or not -(2**63) <= recv_ns < 2**63:
        raise RowError("bad_recv_ns")
    micros = recv_ns // 1000 if recv_ns >= 0 else -(-recv_ns // 1000)  # toward zero
    return _UTC_EPOCH + dt.timedelta(microseconds=micros)


def _values(fields: itemgetter[Any], spec: ColumnSpec, data: dict[str, Any]) -> Row:
    """The typed fields of a record's ``data`` (None for those it lacks)."""
    try:
        return tuple(fields(data))
    except KeyError:
        return tuple(data.get(name) for name, _ in spec)


def _meta(rec: dict[str, Any], day: str, session: Any) -> Row:
    """The ``RECORD_META`` values of a market record."""
    flags = tuple(rec.get("flags") or _NO_FLAGS)
    # the session id: YYYYMMDD_<session>, or the bare date when the session is unknown
    session_id = rec.get("session_id") or (f"{day}_{session}" if session else day)
    return (
        rec.get("seq"), rec["tr_id"], rec["source"], rec.get("v", 1), session_id,
        rec.get("mitigation", 1 if flags else 0), flags,
    )  # fmt: skip


def tick_row(rec: dict[str, Any]) -> Row:
    """The ``ticks`` row (``TICK_COLUMNS``, typed) of a scalp trade record."""
    data = rec["data"]
    values = _values(_TICK_VALUES, TICK_FIELDS, data)
    if values[_ACC_VOLUME] is None:  # part of the unique key
        raise RowError("missing_acc_volume")
    day = data.get("business_date") or _kst_day(rec.get("ts"))
    session = data.get("session") or data.get("session_code")
    return (
        rec["symbol"], _date(day), _timestamp(data.get("trade_ts")), recv_time(rec["recv_ns"]),
        *_meta(rec, day, session), *values,
    )  # fmt: skip


def quote_row(rec: dict[str, Any]) -> Row:
    """The ``quotes`` staging row of a track A quote record."""
    data = rec["data"]
    values = _values(_QUOTE_VALUES, QUOTE_FIELDS, data)
    day = _kst_day(rec.get("ts"))
    sweep = data.get("sweep_id") or rec["recv_ns"]
    return (rec["symbol"], day, sweep, rec["recv_ns"], *_meta(rec, day, values[0]), *values)


def system_row(rec: dict[str, Any]) -> Row:
    """The ``system_events`` staging row of any system record."""
    data = rec["data"]
    event = data.get("event")
    if not isinstance(event, str):
        raise RowError("missing_event")
    return (
        rec["recv_ns"], rec["seq"], _kst_day(rec.get("ts")), rec["source"], event,
        rec.get("symbol") or "", orjson.dumps(data).decode(),
    )  # fmt: skip


def gap_row(rec: dict[str, Any]) -> Row:
    """The ``gaps`` staging row of a ``gap`` system record."""
    data = rec["data"]
    start, end = data.get("start"), data.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        raise RowError("gap_without_range")
    missed = data.get("missed_volume")
    return (
        rec["recv_ns"], rec["seq"], rec["source"], str(data.get("scope") or "symbol"),
        rec.get("symbol") or "", start, end, str(data.get("reason") or "unknown"),
        missed if isinstance(missed, int) else None, data.get("tr_id"), data.get("session"),
    )  # fmt: skip


def universe_row(rec: dict[str, Any]) -> Row | None:
    """A ``universe_members`` row for an ``added`` universe event, None for other events."""
    data = rec["data"]
    if data.get("action") != "added" or not rec.get("symbol"):
        return None
    return (_kst_day(rec.get("ts")), rec["symbol"], None, None, None, "event")
