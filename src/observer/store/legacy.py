"""The earlier system's JSONL formats -> archive-shaped records, detected line by line.

* scalp: ``{"timestamp": ISO, "symbol", "execution_time": "HHMMSS", "price": {"current",
  "open", "high", "low", "change_rate"}, "volume": {"accumulated", "trade_value"},
  "bid_ask": {"ask_price", "bid_price"}, "source", "session_id"}`` -> a ``ticks`` row
  (tr_id H0STCNT0). Legacy lines carry no per-trade volume: it is derived from the rise of the
  accumulated volume over the previous line of the same symbol and day *in the imported
  order*, and is NULL for the first line of a symbol and day (or when the accumulated volume
  did not rise). Such rows get ``mitigation_level`` 2.
* swing: ``{"ts": ISO, "session", "dataset": "track_a_swing", "market", "symbol", "price":
  {"open","high","low","close"}, "volume", "bid_price", "ask_price", "source"}`` -> a
  ``quotes`` row: close is the quoted price, open/high/low the day's, volume the day's
  accumulated volume, and the receive time stands in for the sweep id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from observer.clock import KST
from observer.store.rows import RowError

LEGACY_MITIGATION: Final = 2
LEGACY_SOURCE: Final = "legacy"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=KST)
_MICROSECOND: Final = timedelta(microseconds=1)


def _recv(ts: Any) -> tuple[int, str]:
    """Epoch ns and the KST ISO text of a legacy timestamp (naive means KST)."""
    if not isinstance(ts, str):
        raise RowError("legacy_bad_timestamp")
    try:
        when = datetime.fromisoformat(ts)
    except ValueError as exc:
        raise RowError("legacy_bad_timestamp") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=KST)
    when = when.astimezone(KST)
    micros = (when - _EPOCH) // _MICROSECOND
    return micros * 1000, when.isoformat(timespec="microseconds")


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise RowError("legacy_bad_number") from exc


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        raise RowError("legacy_bad_number")
    if isinstance(value, int):
        return value
    number = _float(value)
    try:
        return None if number is None else int(number)
    except (ValueError, OverflowError) as exc:  # NaN, infinity
        raise RowError("legacy_bad_number") from exc


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowError(f"legacy_bad_{key}")
    return value


class LegacyConverter:
    """Converts legacy lines, remembering accumulated volumes to derive trade volumes."""

    def __init__(self) -> None:
        self._last_acc: dict[tuple[str, str], int] = {}

    def convert(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The archive-shaped record of a legacy line (``RowError`` when it is none)."""
        if "execution_time" in obj and isinstance(obj.get("price"), dict):
            return self._scalp(obj)
        if obj.get("dataset") == "track_a_swing":
            return _swing(obj)
        raise RowError("unknown_format")

    def _scalp(self, obj: dict[str, Any]) -> dict[str, Any]:
        record = _record(obj, "timestamp", "scalp", "H0STCNT0")
        iso, symbol = record["ts"], record["symbol"]
        session = obj.get("session_id")
        record["session_id"] = str(session) if session else None
        exec_time = obj.get("execution_time")
        if not isinstance(exec_time, str) or len(exec_time) != 6 or not exec_time.isdigit():
            raise RowError("legacy_bad_execution_time")
        price, volume, book = (_section(obj, key) for key in ("price", "volume", "bid_ask"))
        acc = _int(volume.get("accumulated"))
        if acc is None:
            raise RowError("missing_acc_volume")
        day = iso[0:4] + iso[5:7] + iso[8:10]
        key = (symbol, day)
        previous = self._last_acc.get(key)
        self._last_acc[key] = acc if previous is None else max(previous, acc)
        trade_volume = acc - previous if previous is not None and acc > previous else None
        trade_ts = f"{iso[0:10]}T{exec_time[0:2]}:{exec_time[2:4]}:{exec_time[4:6]}+09:00"
        record["data"] = {
            "trade_time": exec_time,
            "price": _int(price.get("current")),
            "open": _int(price.get("open")),
            "high": _int(price.get("high")),
            "low": _int(price.get("low")),
            "change_rate": _float(price.get("change_rate")),
            "acc_volume": acc,
            "acc_value": _int(volume.get("trade_value")),
            "ask1": _int(book.get("ask_price")),
            "bid1": _int(book.get("bid_price")),
            "trade_volume": trade_volume,
            "business_date": day,
            "trade_ts": trade_ts,
        }
        return record


def _swing(obj: dict[str, Any]) -> dict[str, Any]:
    record = _record(obj, "ts", "swing", "legacy_track_a")
    price = _section(obj, "price")
    session = obj.get("session")
    record["data"] = {
        "session": str(session) if session else None,
        "market": obj.get("market") if isinstance(obj.get("market"), str) else None,
        "price": _int(price.get("close")),
        "open": _int(price.get("open")),
        "high": _int(price.get("high")),
        "low": _int(price.get("low")),
        "acc_volume": _int(obj.get("volume")),
        "ask1": _int(obj.get("ask_price")),
        "bid1": _int(obj.get("bid_price")),
        "sweep_id": record["recv_ns"],
    }
    return record


def _record(obj: dict[str, Any], ts_key: str, stream: str, tr_id: str) -> dict[str, Any]:
    """The archive-shaped record of a legacy line, its ``data`` still to fill: the receive
    time from ``ts_key`` (naive means KST), the symbol."""
    recv_ns, iso = _recv(obj.get(ts_key))
    symbol = obj.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise RowError("legacy_missing_symbol")
    return {
        "v": 1, "stream": stream, "seq": None, "recv_ns": recv_ns, "ts": iso,
        "source": str(obj.get("source") or LEGACY_SOURCE), "tr_id": tr_id, "symbol": symbol,
        "data": {}, "mitigation": LEGACY_MITIGATION,
    }  # fmt: skip


def is_archive_record(obj: dict[str, Any]) -> bool:
    """True for a line in Observer's own archive format."""
    return "stream" in obj and "recv_ns" in obj and isinstance(obj.get("data"), dict)
