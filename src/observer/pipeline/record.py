"""The record: one line of the archive.

Every line carries ``v`` (schema version), ``stream``, ``seq`` (per stream, strictly
increasing, assigned by the archive writer), ``recv_ns`` (receive time, epoch ns), ``ts`` (the
receive time as ISO 8601 +09:00), ``source`` (kis, sim, replay), ``tr_id``, ``symbol``,
``data`` (typed, named fields) and, for KIS records, ``raw`` (the record exactly as received).

System records (stream ``system``) have ``tr_id`` ``SYSTEM`` and ``data["event"]`` naming the
kind of event (see :data:`SYSTEM_EVENTS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from observer.clock import kst_iso

SCHEMA_VERSION: Final = 1
Stream = Literal["scalp", "swing", "system"]
STREAMS: Final[tuple[Stream, ...]] = ("scalp", "swing", "system")
SOURCES: Final = ("kis", "sim", "replay")
SYSTEM_TR_ID: Final = "SYSTEM"
# data["event"] of system records.
SYSTEM_EVENTS: Final = (
    "startup",  # service started (recovery report in data)
    "shutdown",  # service stopped cleanly
    "gap",  # a hole: scope, symbol, start, end, reason, missed_volume
    "connection",  # WebSocket connected / disconnected / re-registered
    "session",  # market session changed
    "universe",  # universe built / fallback / added / removed / count warning
    "slot",  # track B slot assigned / evicted
    "sweep",  # track A sweep finished (duration, calls, errors, coverage)
    "disk",  # disk guard warning / floor / recovered
    "quarantine",  # a record was quarantined (counts only; the record is in quarantine/)
)


@dataclass(slots=True)
class Record:
    """One market or system record on its way to the archive."""

    stream: Stream
    source: str
    tr_id: str
    symbol: str
    data: dict[str, Any]
    recv_ns: int
    raw: str | None = None
    seq: int = 0
    flags: list[str] = field(default_factory=list)

    def to_line(self) -> bytes:
        """The archive line for this record (seq must already be assigned), ending in ``\\n``."""
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "stream": self.stream,
            "seq": self.seq,
            "recv_ns": self.recv_ns,
            "ts": kst_iso(self.recv_ns),
            "source": self.source,
            "tr_id": self.tr_id,
            "symbol": self.symbol,
            "data": self.data,
        }
        if self.flags:
            obj["flags"] = self.flags
        if self.raw is not None:
            obj["raw"] = self.raw
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> Record:
        """Rebuild a record from a parsed archive line."""
        return cls(
            stream=obj["stream"],
            source=obj["source"],
            tr_id=obj["tr_id"],
            symbol=obj["symbol"],
            data=obj["data"],
            recv_ns=obj["recv_ns"],
            raw=obj.get("raw"),
            seq=obj["seq"],
            flags=list(obj.get("flags", ())),
        )


def system_record(event: str, recv_ns: int, source: str, symbol: str = "", **data: Any) -> Record:
    """A ``system`` stream record for ``event`` with the given fields."""
    return Record(
        stream="system",
        source=source,
        tr_id=SYSTEM_TR_ID,
        symbol=symbol,
        data={"event": event, **data},
        recv_ns=recv_ns,
    )
