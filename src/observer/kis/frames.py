"""Real-time WebSocket messages: data frames, control answers and PINGPONG.

A data frame is ``<enc>|<tr_id>|<count>|<payload>``; the payload is ``count`` records' fields
joined by ``^``. Records are split by count, never by a fixed width: width = fields / count,
known fields are mapped by position through the TR's declared table (:mod:`observer.kis.tr`)
and extra trailing fields stay in ``raw``. :func:`parse_message` never raises; anything it
cannot use comes back as a :class:`Reject` with a reason.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from observer.kis.tr import TrLayout, layouts, yes_no

_MAX_REASON_VALUE = 40


@dataclass(slots=True)
class ParsedRecord:
    """One record of a data frame: typed fields in ``data``, the record as received in ``raw``."""

    tr_id: str
    symbol: str
    data: dict[str, Any]
    raw: str


@dataclass(slots=True)
class Reject:
    """Something that could not be parsed, with the reason and the offending text."""

    reason: str
    raw: str
    tr_id: str | None = None


@dataclass(slots=True)
class DataMessage:
    """A data frame: its records in order, and the records of it that were rejected."""

    tr_id: str
    count: int
    records: list[ParsedRecord]
    rejects: list[Reject] = field(default_factory=list)
    recv_ns: int = 0


@dataclass(slots=True)
class ControlMessage:
    """A JSON answer to a (un)subscribe request, or another control notice."""

    tr_id: str
    tr_key: str
    rt_cd: str
    msg_cd: str
    msg1: str
    iv: str = ""
    key: str = ""


@dataclass(slots=True)
class PingPong:
    """A PINGPONG keep-alive; send ``text`` back unchanged."""

    text: str


Message = DataMessage | ControlMessage | PingPong | Reject


class _Decoder:
    """A layout compiled for speed.

    The table is turned, once and on first use, into one function that builds the record's
    dict with a constant-key dict display: integer fields are converted together by a single
    ``orjson.loads`` of the joined digits, floats and flags inline. Any ValueError sends the
    record to the field-by-field path, which gives the exact reason.
    """

    __slots__ = ("convert", "layout", "rows", "width")

    def __init__(self, layout: TrLayout) -> None:
        self.layout = layout
        self.rows = layout.rows[1:]
        self.width = layout.width
        self.convert = _compile(layout)


def _compile(layout: TrLayout) -> Callable[[list[str]], dict[str, Any]]:
    """One function ``convert(fields) -> data`` for the layout (fields[0] is the symbol)."""
    int_positions = [row[0] for row in layout.rows[1:] if row[3] is int]
    namespace: dict[str, Any] = {
        "loads": orjson.loads,
        "float": float,
        "ints": operator.itemgetter(*int_positions) if int_positions else None,
    }
    items = []
    for position, _code, name, parser in layout.rows[1:]:
        if parser is int:
            value = f"n[{int_positions.index(position)}]"
        elif parser is float:
            value = f"float(c[{position}])"
        elif parser is str:
            value = f"c[{position}]"
        elif parser is yes_no:
            value = f"c[{position}] == 'Y'"
        else:
            namespace[f"p{position}"] = parser
            value = f"p{position}(c[{position}])"
        items.append(f"{name!r}: {value}")
    lines = ["def convert(c):"]
    if int_positions:
        lines += [
            "    s = ','.join(ints(c))" if len(int_positions) > 1 else "    s = ints(c)",
            # true / false / null and exponents are not integers to int(): never accept them
            "    if 'e' in s or 'n' in s:",
            "        raise ValueError(s)",
            "    n = loads('[' + s + ']')",
            "    try:",
            "        total = sum(n)",  # strings, lists, objects: TypeError
            "    except TypeError:",
            "        raise ValueError(s) from None",
            # a field with a comma adds elements; a fraction or a number beyond 64 bits
            # (which orjson reads as a float) makes the sum a float
            f"    if len(n) != {len(int_positions)} or type(total) is not int:",
            "        raise ValueError(s)",
        ]
    if layout.timestamp_fields is not None:
        day = f"c[{_position_of(layout, layout.timestamp_fields[0])}]"
        clock = f"c[{_position_of(layout, layout.timestamp_fields[1])}]"
        namespace.update(dates=_DATE_PREFIX.get, clocks=_CLOCK_PART.get, stamp=_timestamp)
        lines += [
            f"    p = dates({day})",
            f"    t = clocks({clock})",
            "    if p is None or t is None:",
            f"        ts = stamp({day}, {clock})",
            "        if ts is None:",
            "            raise ValueError('bad business date or trade time')",
            "    else:",
            "        ts = p + t",
        ]
        items.append("'trade_ts': ts")
    lines.append("    return {" + ", ".join(items) + "}")
    code = compile("\n".join(lines), f"<{layout.tr_ids[0]} decoder>", "exec")
    exec(code, namespace)  # noqa: S102 - source built only from the declared table above
    convert: Callable[[list[str]], dict[str, Any]] = namespace["convert"]
    return convert


_DECODERS: dict[str, _Decoder] = {}
_DATE_PREFIX: dict[str, str | None] = {}
_CLOCK_PART: dict[str, str] = {}


def _decoder(tr_id: str) -> _Decoder | None:
    if not _DECODERS:
        for name, layout in layouts().items():
            _DECODERS[name] = _Decoder(layout)
    return _DECODERS.get(tr_id)


_COUNTS: dict[str, int] = {f"{n:03d}": n for n in range(1, 100)}


def _count(text: str) -> int:
    """A record count that is not one of the usual zero-padded ones (0 when invalid)."""
    return int(text) if text.isdigit() and text.isascii() else 0


def _position_of(layout: TrLayout, name: str) -> int:
    return next(row[0] for row in layout.rows if row[2] == name)


def parse_message(text: str, recv_ns: int) -> Message:
    """Parse one WebSocket text message; never raises."""
    try:
        if text.startswith("{"):
            return _parse_control(text)
        return _parse_data(text, recv_ns)
    except Exception as exc:  # the promise is "never raises": report instead
        return Reject(f"unparseable: {type(exc).__name__}", text, None)


def _parse_data(text: str, recv_ns: int) -> Message:
    parts = text.split("|", 3)
    if len(parts) != 4:
        return Reject("not a data frame", text, None)
    enc, tr_id, count_text, payload = parts
    if enc != "0":
        if enc == "1":
            return Reject("encrypted", text, tr_id)
        return Reject(f"bad encryption flag {enc[:_MAX_REASON_VALUE]!r}", text, tr_id)
    decoder = _DECODERS.get(tr_id) or _decoder(tr_id)
    if decoder is None:
        return Reject("unknown tr_id", text, tr_id[:_MAX_REASON_VALUE])
    count = _COUNTS.get(count_text) or _count(count_text)
    if count < 1:
        return Reject(f"bad record count {count_text[:_MAX_REASON_VALUE]!r}", text, tr_id)
    fields = payload.split("^")
    total = len(fields)
    if total % count:
        return Reject(f"{total} fields do not divide into {count} records", text, tr_id)
    width = total // count
    if width < decoder.width:
        return Reject(f"record has {width} fields, expected {decoder.width}", text, tr_id)
    message = DataMessage(tr_id, count, [], [], recv_ns)
    if count == 1:  # the common case, inlined; any doubt goes to the general path
        try:
            data = decoder.convert(fields) if fields[0] else None
        except ValueError:
            data = None
        if data is None:
            _add_record(message, decoder, fields, payload)
        else:
            message.records.append(ParsedRecord(tr_id, fields[0], data, payload))
        return message
    for start in range(0, total, width):
        chunk = fields[start : start + width]
        _add_record(message, decoder, chunk, "^".join(chunk))
    return message


def _add_record(message: DataMessage, decoder: _Decoder, chunk: list[str], raw: str) -> None:
    symbol = chunk[0]
    if not symbol:
        message.rejects.append(Reject("empty symbol", raw, message.tr_id))
        return
    try:
        data = decoder.convert(chunk)
    except ValueError:
        data_or_reason = _convert_slowly(decoder, chunk)
        if isinstance(data_or_reason, str):
            message.rejects.append(Reject(data_or_reason, raw, message.tr_id))
            return
        data = data_or_reason
    message.records.append(ParsedRecord(message.tr_id, symbol, data, raw))


def _convert_slowly(decoder: _Decoder, chunk: list[str]) -> dict[str, Any] | str:
    """Field by field: a blank number becomes None, anything else unparseable is a reason."""
    data: dict[str, Any] = {}
    for position, _code, name, parser in decoder.rows:
        value = chunk[position]
        try:
            data[name] = parser(value)
        except ValueError:
            if value.strip():
                return f"bad {name}: {value[:_MAX_REASON_VALUE]!r}"
            data[name] = None
    stamp_fields = decoder.layout.timestamp_fields
    if stamp_fields is not None:
        stamp = _timestamp(str(data[stamp_fields[0]]), str(data[stamp_fields[1]]))
        if stamp is None:
            return "bad business date or trade time"
        data["trade_ts"] = stamp
    return data


def _timestamp(day: str, clock: str) -> str | None:
    """``YYYYMMDD`` + ``HHMMSS`` as ISO 8601 +09:00, or None if either is not valid.

    Both halves are cached (a few dates, at most 86,400 times of day), so the hot path is two
    dict look-ups and one concatenation.
    """
    prefix = _DATE_PREFIX.get(day)
    if prefix is None:
        if day in _DATE_PREFIX:
            return None
        if len(_DATE_PREFIX) > 1024:
            _DATE_PREFIX.clear()
        prefix = _DATE_PREFIX[day] = _date_prefix(day)
        if prefix is None:
            return None
    part = _CLOCK_PART.get(clock)
    if part is None:
        part = _clock_part(clock)
        if part is None:
            return None
        _CLOCK_PART[clock] = part
    return prefix + part


def _date_prefix(day: str) -> str | None:
    if len(day) != 8 or not day.isdigit() or not day.isascii():
        return None
    try:
        return date(int(day[:4]), int(day[4:6]), int(day[6:])).isoformat()
    except ValueError:
        return None


def _clock_part(clock: str) -> str | None:
    if (
        len(clock) != 6
        or not clock.isdigit()
        or not clock.isascii()
        or clock[:2] > "23"
        or clock[2:4] > "59"
        or clock[4:] > "59"
    ):
        return None
    return f"T{clock[:2]}:{clock[2:4]}:{clock[4:]}+09:00"


def _parse_control(text: str) -> Message:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Reject("bad json", text, None)
    header = obj.get("header") if isinstance(obj, dict) else None
    if not isinstance(header, dict):
        return Reject("control message without header", text, None)
    tr_id = _text(header.get("tr_id"))
    if tr_id == "PINGPONG":
        return PingPong(text)
    body = obj.get("body")
    body = body if isinstance(body, dict) else {}
    output = body.get("output")
    output = output if isinstance(output, dict) else {}
    return ControlMessage(
        tr_id=tr_id,
        tr_key=_text(header.get("tr_key")),
        rt_cd=_text(body.get("rt_cd")),
        msg_cd=_text(body.get("msg_cd")),
        msg1=_text(body.get("msg1")),
        iv=_text(output.get("iv")),
        key=_text(output.get("key")),
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)
