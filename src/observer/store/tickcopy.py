"""The loader's fast path for trades: archive lines -> PostgreSQL binary COPY data, in C.

A batch of a catch-up is almost all trades of one business day. :class:`TickCopy` gathers
them as two binary COPY streams, built by the ``_tickcopy`` extension straight from the JSON
text of each archive line: the typed ``ticks`` rows (``rows.TICK_COPY_COLUMNS``), which go
directly into the day's partition, and the few columns the one-minute bars are built from
(``rows.BAR_TICK_COLUMNS``). This skips parsing the line into Python objects, building a row,
asyncpg's per-value encoding, and the server's text casts and second pass through a staging
table.

A line the extension does not take (another stream or day, an unusual type, timestamp or
string, anything that is not plain JSON) is parsed with orjson and goes the general way
(``rows.tick_row`` into the text staging table); both produce the same rows
(``tests/store/test_tickcopy.py``). Without the compiled extension (``available()`` is False)
every line goes the general way.
"""

from __future__ import annotations

import datetime as dt
from types import ModuleType
from typing import Any, Final

from observer.store import rows as R

_tickcopy: ModuleType | None
try:
    from observer.store import _tickcopy
except ImportError:  # built without a C compiler: the general path does everything
    _tickcopy = None

HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
TRAILER: Final = b"\xff\xff"
_KINDS: Final = {"text": "t", "bigint": "q", "double precision": "d", "boolean": "?"}
_FIELDS: Final = tuple((name, _KINDS[kind]) for name, kind in R.TICK_FIELDS)
_PG_EPOCH: Final = dt.date(2000, 1, 1)
TICK_COPY_NAMES: Final = [name for name, _ in R.TICK_COPY_COLUMNS]
BAR_TICK_NAMES: Final = [name for name, _ in R.BAR_TICK_COLUMNS]
BAR_NAMES: Final = [name for name, _ in R.BAR_COLUMNS]
PARTS: Final = 2  # the loader writes two parts at once, over two connections


def available() -> bool:
    """True when the compiled extension is importable."""
    return _tickcopy is not None


_configured: list[bool] = []


def _configure() -> None:
    """Tell the extension the field layout (once per process)."""
    if not _configured and _tickcopy is not None:
        _tickcopy.configure(_FIELDS, tuple(sorted(R.TICK_TR_IDS)))
        _configured.append(True)


def day_value(day: Any) -> int | None:
    """Days from 2000-01-01 of a ``YYYYMMDD`` business date; None when it is not one."""
    if not isinstance(day, str) or len(day) != 8 or not day.isascii() or not day.isdigit():
        return None
    try:
        return (dt.date(int(day[:4]), int(day[4:6]), int(day[6:])) - _PG_EPOCH).days
    except ValueError:
        return None


class TickCopy:
    """Binary COPY data of one business day's trades (``ticks`` rows and bar inputs), in
    ``PARTS`` parts by symbol, so the parts can be written over separate connections at once
    (a symbol's trades and bars are all in one part)."""

    __slots__ = ("_buffers", "_closed", "_day_value", "_encode", "day")

    def __init__(self, day: str, value: int) -> None:
        if _tickcopy is None:
            raise RuntimeError("the _tickcopy extension is not built")
        _configure()
        self.day = day
        self._day_value = value
        self._encode = _tickcopy.encode_lines
        # Per part: ticks rows, bar-input rows (COPY streams) and fixed-size bar inputs.
        self._buffers = tuple(
            buffer
            for _ in range(PARTS)
            for buffer in (bytearray(HEADER), bytearray(HEADER), bytearray())
        )
        self._closed = False

    @classmethod
    def for_record(cls, rec: dict[str, Any]) -> TickCopy | None:
        """A TickCopy for the business day of trade record ``rec``; None for another record,
        a record without a usable day, or without the extension."""
        tr_id = rec.get("tr_id")
        if _tickcopy is None or rec.get("stream") != "scalp" or not isinstance(tr_id, str):
            return None
        if tr_id not in R.TICK_TR_IDS:
            return None
        data = rec.get("data")
        day = data.get("business_date") if type(data) is dict else None
        value = day_value(day)
        return None if value is None else cls(day, value)  # type: ignore[arg-type]

    @property
    def counts(self) -> list[int]:
        """Trades taken, per part."""
        assert _tickcopy is not None  # noqa: S101 - a TickCopy exists only with the extension
        size: int = _tickcopy.BAR_INPUT_SIZE
        return [len(self._buffers[3 * part + 2]) // size for part in range(PARTS)]

    @property
    def count(self) -> int:
        """Trades taken, all parts together."""
        return sum(self.counts)

    @property
    def size(self) -> int:
        """Bytes gathered, all parts and buffers together."""
        return sum(len(buffer) for buffer in self._buffers)

    def add_line(self, line: bytes) -> tuple[int | None, int] | None:
        """Append the rows of one archive line and return its (seq, recv_ns); None, with
        nothing appended, when the line must go the general way."""
        if b"\n" in line:  # not one archive line
            return None
        _, taken, seq, recv_ns = self.add_lines(line + b"\n", 0, 1)
        return (seq, recv_ns) if taken and recv_ns is not None else None

    def add_lines(
        self, data: bytes, start: int, most: int
    ) -> tuple[int, int, int | None, int | None]:
        """:meth:`add_line` over the newline-ended lines of ``data`` from offset ``start`` in
        one call (the loader's loop), until ``most`` are taken or a line must go the general
        way: (offset of the first line not consumed, lines taken, last seq, last recv_ns)."""
        if self._closed:
            return start, 0, None, None
        got: tuple[int, int, int | None, int | None] = self._encode(
            data, start, most, self.day, self._day_value, self._buffers
        )
        return got

    def gathered(self, part: int) -> tuple[bytearray, bytearray]:
        """One part's ``ticks`` rows and bar-input rows so far (a COPY header, then rows)."""
        return self._buffers[3 * part], self._buffers[3 * part + 1]

    def parts(self) -> list[int]:
        """The parts that hold trades."""
        return [part for part, count in enumerate(self.counts) if count]

    def payloads(self, part: int) -> tuple[bytearray, bytearray]:
        """The complete COPY streams (header, rows, trailer) of one part's ``ticks`` rows and
        bar inputs; nothing can be added afterwards."""
        if not self._closed:
            for index in range(PARTS):
                self._buffers[3 * index].extend(TRAILER)
                self._buffers[3 * index + 1].extend(TRAILER)
            self._closed = True
        return self._buffers[3 * part], self._buffers[3 * part + 1]

    def aggregated_bars(self, part: int) -> bytes | None:
        """One part's one-minute bars (``rows.BAR_COLUMNS``) as a COPY stream, aggregated
        here the way the bar SQL would; None when the server must aggregate its bar inputs."""
        assert _tickcopy is not None  # noqa: S101 - a TickCopy exists only with the extension
        result: bytes | None = _tickcopy.aggregate(self._buffers[3 * part + 2], self._day_value)
        return result

    @property
    def partition(self) -> str:
        """The day partition the rows go into (see ``observer_ensure_partition``)."""
        return f"ticks_{self.day}"
