"""The loader's fast path for trades: archive lines -> PostgreSQL binary COPY data, in C.

A batch of a catch-up is almost all trades of one business day. :class:`TickCopy` gathers
them as two binary COPY streams, built by the ``_tickcopy`` extension straight from the JSON
text of each archive line: the typed ``ticks`` rows (``rows.TICK_COLUMNS``) and the few columns
the one-minute bars are built from (``rows.BAR_TICK_COLUMNS``). This skips parsing the line
into Python objects, building a row and asyncpg's per-value encoding.

A line the extension does not take (another stream or day, an unusual type, timestamp or
string, anything that is not plain JSON) is parsed with orjson and becomes a row by
``rows.tick_row``; both give the same rows (``tests/store/test_tickcopy.py``), which the
writer sends the same two ways. Without the compiled extension, or when its layout does not
match ``rows`` (``fast_path_active()`` is False), every line goes that way.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from observer.store import rows as R

try:
    from observer.store import _tickcopy
except ImportError:  # built without a C compiler: the general path does everything
    _tickcopy = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
TRAILER: Final = b"\xff\xff"
_KINDS: Final = {
    "text": "t",
    "bigint": "q",
    "integer": "i",
    "double precision": "d",
    "boolean": "?",
}
_PG_EPOCH: Final = dt.date(2000, 1, 1)


def available() -> bool:
    """True when the compiled extension is importable."""
    return _tickcopy is not None


_configured: list[bool] = []
_reported: set[str] = set()  # why the fast path is off, each said once (retried every call)


def _off(reason: str) -> bool:
    if reason not in _reported:
        _reported.add(reason)
        log.error("%s; fast path off", reason)
    return False


def fast_path_active() -> bool:
    """True when trades take the C fast path: the extension is built and agrees with the
    layout in ``rows`` (configured on first use; a failure is retried on the next call, and
    logged once)."""
    if _configured:
        return True
    if _tickcopy is None:
        return False
    if _tickcopy.HEADER != R.TICK_HEADER:
        return _off("the _tickcopy extension writes another row header")
    try:
        _tickcopy.configure(
            tuple((name, _KINDS[kind]) for name, kind in R.TICK_FIELDS),
            tuple(sorted(R.TICK_TR_IDS)),
        )
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        return _off(f"the _tickcopy extension refused the trade layout ({exc})")
    _configured.append(True)
    return True


def day_value(day: object) -> int | None:
    """Days from 2000-01-01 of a ``YYYYMMDD`` business date; None when it is not one."""
    if not isinstance(day, str) or len(day) != 8 or not day.isascii() or not day.isdigit():
        return None
    try:
        return (dt.date(int(day[:4]), int(day[4:6]), int(day[6:])) - _PG_EPOCH).days
    except ValueError:
        return None


class TickCopy:
    """Binary COPY data of one business day's trades: ``ticks`` rows and bar inputs."""

    __slots__ = ("_closed", "_day_value", "bars", "count", "day", "rows")

    def __init__(self, day: str, value: int) -> None:
        self.day = day
        self._day_value = value
        self.rows = bytearray(HEADER)
        self.bars = bytearray(HEADER)
        self.count = 0
        self._closed = False

    @classmethod
    def for_record(cls, rec: dict[str, object]) -> TickCopy | None:
        """A TickCopy for the business day of trade record ``rec``; None for another record,
        a record without a usable day, or when the fast path is not active."""
        tr_id = rec.get("tr_id")
        if rec.get("stream") != "scalp" or not isinstance(tr_id, str) or tr_id not in R.TICK_TR_IDS:
            return None
        data = rec.get("data")
        day = data.get("business_date") if type(data) is dict else None
        value = day_value(day)
        if value is None or not fast_path_active():
            return None
        return cls(day, value)  # type: ignore[arg-type]

    def add_lines(
        self, data: bytes, start: int, most: int
    ) -> tuple[int, int, int | None, int | None]:
        """Append the rows of the newline-ended lines of ``data`` from offset ``start`` on,
        until ``most`` are taken or a line must go the general way: (offset of the first line
        not consumed, lines taken, last seq, last recv_ns)."""
        if self._closed:
            return start, 0, None, None
        got = _tickcopy.encode_lines(
            data, start, most, self.day, self._day_value, self.rows, self.bars
        )
        self.count += got[1]
        return got

    def payloads(self) -> tuple[bytearray, bytearray]:
        """The complete COPY streams (header, rows, trailer) of the ``ticks`` rows and the bar
        inputs; nothing can be added afterwards."""
        if not self._closed:
            self.rows.extend(TRAILER)
            self.bars.extend(TRAILER)
            self._closed = True
        return self.rows, self.bars
