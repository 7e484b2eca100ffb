"""Archive records -> table rows: the column layout of every staging table and the one
function per table that turns a parsed archive record into a row tuple.

Rows are built with as little Python per record as possible (one ``itemgetter`` call for the
typed fields); dates and times travel as text and are cast by the server in the
``INSERT ... SELECT`` (see :mod:`observer.store.batch`). A record that cannot become a row
raises :class:`RowError` with the reason, and is counted as rejected.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Final

import orjson

Row = tuple[Any, ...]
ColumnSpec = tuple[tuple[str, str], ...]

# Typed H0STCNT0 fields in wire order (business_date and trade_ts travel with the row header).
TICK_FIELDS: Final[ColumnSpec] = (
    ("trade_time", "text"),
    ("price", "bigint"),
    ("change_sign", "text"),
    ("change", "bigint"),
    ("change_rate", "double precision"),
    ("vwap", "double precision"),
    ("open", "bigint"),
    ("high", "bigint"),
    ("low", "bigint"),
    ("ask1", "bigint"),
    ("bid1", "bigint"),
    ("trade_volume", "bigint"),
    ("acc_volume", "bigint"),
    ("acc_value", "bigint"),
    ("sell_count", "bigint"),
    ("buy_count", "bigint"),
    ("net_buy_count", "bigint"),
    ("strength", "double precision"),
    ("sell_volume", "bigint"),
    ("buy_volume", "bigint"),
    ("trade_side", "text"),
    ("buy_ratio", "double precision"),
    ("volume_ratio_prev_day", "double precision"),
    ("open_time", "text"),
    ("open_vs_price_sign", "text"),
    ("open_vs_price", "bigint"),
    ("high_time", "text"),
    ("high_vs_price_sign", "text"),
    ("high_vs_price", "bigint"),
    ("low_time", "text"),
    ("low_vs_price_sign", "text"),
    ("low_vs_price", "bigint"),
    ("session_code", "text"),
    ("halted", "boolean"),
    ("ask1_size", "bigint"),
    ("bid1_size", "bigint"),
    ("total_ask_size", "bigint"),
    ("total_bid_size", "bigint"),
    ("turnover", "double precision"),
    ("prev_day_same_time_volume", "bigint"),
    ("prev_day_same_time_volume_rate", "double precision"),
    ("hour_class", "text"),
    ("market_treatment_class", "text"),
    ("vi_base_price", "bigint"),
    ("market", "text"),
    ("session", "text"),
    ("tick_size", "bigint"),
)
QUOTE_FIELDS: Final[ColumnSpec] = (
    ("session", "text"),
    ("name", "text"),
    ("market", "text"),
    ("price", "bigint"),
    ("change", "bigint"),
    ("change_sign", "text"),
    ("change_rate", "double precision"),
    ("acc_volume", "bigint"),
    ("acc_value", "bigint"),
    ("open", "bigint"),
    ("high", "bigint"),
    ("low", "bigint"),
    ("upper_limit", "bigint"),
    ("lower_limit", "bigint"),
    ("ask1", "bigint"),
    ("bid1", "bigint"),
    ("prev_close", "bigint"),
    ("base_price", "bigint"),
    ("tick_size", "bigint"),
)
# Row headers: the columns every row of a table starts with (staging types).
TICK_HEADER: Final[ColumnSpec] = (
    ("symbol", "text"),
    ("business_date", "text"),
    ("trade_ts", "text"),
    ("recv_ns", "bigint"),
    ("seq", "bigint"),
    ("tr_id", "text"),
    ("source", "text"),
    ("schema_version", "smallint"),
    ("session_id", "text"),
    ("mitigation_level", "smallint"),
    ("flags", "text[]"),
    ("raw", "text"),
)
QUOTE_HEADER: Final[ColumnSpec] = (
    ("symbol", "text"),
    ("business_date", "text"),
    ("sweep_id", "bigint"),
    ("recv_ns", "bigint"),
    ("seq", "bigint"),
    ("tr_id", "text"),
    ("source", "text"),
    ("schema_version", "smallint"),
    ("session_id", "text"),
    ("mitigation_level", "smallint"),
    ("flags", "text[]"),
    ("raw", "text"),
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
# The ``ticks`` columns in the order the binary COPY fast path (``store/tickcopy.py``) sends
# them: the staging header typed like the table itself, so the rows can go straight into a day
# partition, with the receive time (which the staging path leaves to the server) after trade_ts.
_TABLE_TYPES: Final = {"business_date": "date", "trade_ts": "timestamptz"}
TICK_COPY_COLUMNS: Final[ColumnSpec] = (
    *((name, _TABLE_TYPES.get(name, kind)) for name, kind in TICK_HEADER[:3]),
    ("recv_ts", "timestamptz"),
    *TICK_HEADER[3:],
    *TICK_FIELDS,
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
# bars_1m as the extension aggregates them (its column order).
BAR_COLUMNS: Final[ColumnSpec] = (
    ("symbol", "text"),
    ("business_date", "date"),
    ("bar_time", "timestamptz"),
    ("open", "bigint"),
    ("high", "bigint"),
    ("low", "bigint"),
    ("close", "bigint"),
    ("volume", "bigint"),
    ("trade_count", "integer"),
    ("flagged_count", "integer"),
    ("first_acc_volume", "bigint"),
    ("last_acc_volume", "bigint"),
    ("session_id", "text"),
)
STAGING: Final[dict[str, ColumnSpec]] = {
    "ticks": TICK_HEADER + TICK_FIELDS,
    "quotes": QUOTE_HEADER + QUOTE_FIELDS,
    "system_events": SYSTEM_COLUMNS,
    "gaps": GAP_COLUMNS,
    "universe_members": UNIVERSE_COLUMNS,
}
PYTHON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "text": (str,),
    "bigint": (int,),
    "smallint": (int,),
    "double precision": (float, int),
    "boolean": (bool,),
    "text[]": (tuple, list),
}
TICK_TR_IDS: Final = frozenset({"H0STCNT0", "H0NXCNT0", "H0UNCNT0"})
# Flags travel as tuples: a row holding only immutable atoms is untracked by the cyclic garbage
# collector, which halves the Python cost of a large batch.
_NO_FLAGS: Final[tuple[str, ...]] = ()
_TICK_VALUES = itemgetter(*(name for name, _ in TICK_FIELDS))
_QUOTE_VALUES = itemgetter(*(name for name, _ in QUOTE_FIELDS))


class RowError(ValueError):
    """A record that cannot become a row; ``reason`` is a short machine-friendly label."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def session_id(day: str, session: Any) -> str:
    """``YYYYMMDD_<session>``, or the bare date when the session is unknown."""
    return f"{day}_{session}" if session else day


def _kst_day(ts: Any) -> str:
    """YYYYMMDD of an ISO 8601 +09:00 timestamp (its first ten characters are the KST date)."""
    if not isinstance(ts, str) or len(ts) < 10:
        raise RowError("missing_ts")
    return ts[0:4] + ts[5:7] + ts[8:10]


def tick_row(rec: dict[str, Any]) -> Row:
    """The ``ticks`` staging row of a scalp trade record."""
    data = rec["data"]
    try:
        values = _TICK_VALUES(data)
    except KeyError:
        values = tuple(data.get(name) for name, _ in TICK_FIELDS)
    if values[12] is None:  # acc_volume: part of the unique key
        raise RowError("missing_acc_volume")
    day = data.get("business_date") or _kst_day(rec.get("ts"))
    flags = tuple(rec.get("flags") or _NO_FLAGS)
    level = rec.get("mitigation", 1 if flags else 0)
    session = data.get("session") or data.get("session_code")
    return (
        rec["symbol"], day, data.get("trade_ts"), rec["recv_ns"], rec.get("seq"), rec["tr_id"],
        rec["source"], rec.get("v", 1), rec.get("session_id") or session_id(day, session),
        level, flags, rec.get("raw"), *values,
    )  # fmt: skip


def quote_row(rec: dict[str, Any]) -> Row:
    """The ``quotes`` staging row of a track A quote record."""
    data = rec["data"]
    try:
        values = _QUOTE_VALUES(data)
    except KeyError:
        values = tuple(data.get(name) for name, _ in QUOTE_FIELDS)
    day = _kst_day(rec.get("ts"))
    flags = tuple(rec.get("flags") or _NO_FLAGS)
    level = rec.get("mitigation", 1 if flags else 0)
    sweep = data.get("sweep_id") or rec["recv_ns"]
    return (
        rec["symbol"], day, sweep, rec["recv_ns"], rec.get("seq"), rec["tr_id"], rec["source"],
        rec.get("v", 1), rec.get("session_id") or session_id(day, values[0]), level, flags,
        rec.get("raw"), *values,
    )  # fmt: skip


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


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def conforms(table: str, row: Row) -> bool:
    """True when every value of ``row`` has the Python type its staging column needs."""
    columns = STAGING[table]
    if len(row) != len(columns):
        return False
    for value, (_, kind) in zip(row, columns, strict=True):
        if value is None:
            continue
        allowed = PYTHON_TYPES[kind]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            return False
        if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
            return False
        if isinstance(value, tuple | list) and not all(isinstance(i, str) for i in value):
            return False
    return True
