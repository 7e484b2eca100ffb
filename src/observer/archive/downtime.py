"""The service's own downtime is a gap: ``service_down`` records written at start-up.

Whether the last stop was clean or a SIGKILL, nothing was received between the last archived
record and this start. At start-up (after recovery, before anything new is written) one gap
per stream covers that window, from the stream's last archived record to now; for ``scalp``
it is one gap per symbol of the newest scalp hour (the symbols that were registered then),
each from that symbol's own last trade, when that hour is of today's KST day. A per-symbol gap
carries what its repair needs: ``business_date`` and ``acc_volume_from``, the cumulative volume
of the symbol's last archived trade (the trades missed are the ones above it).

A newest scalp hour of an earlier day gives one ``scalp`` gap for the stream, unless
``interrupted`` says the stop fell inside that day's streaming (then the holes are per symbol
too, beyond the reach of the time-and-sales API, which serves only today).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import zstandard

from observer.archive.files import files_by_stream, tail_lines
from observer.archive.paths import ArchiveName
from observer.clock import kst_iso
from observer.pipeline.gaps import gap_record
from observer.pipeline.process import KRX_TRADE_TR_IDS
from observer.pipeline.record import Record

log = logging.getLogger(__name__)
DOWN_REASON = "service_down"
TAIL_BYTES = 8 << 20  # the scan of an hour looks at its last 8 MiB only (bounded memory)


def _records(name: ArchiveName, path: Path) -> list[dict[str, Any]]:
    try:
        lines = tail_lines(name, path, TAIL_BYTES)
    except (OSError, zstandard.ZstdError) as exc:  # an unreadable hour: look at the one before
        log.warning("downtime: cannot read %s: %s", path.name, exc)
        return []
    found = []
    for line in lines:
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("recv_ns"), int):
            found.append(obj)
    return found


def last_archived(assets_dir: Path) -> dict[str, tuple[ArchiveName, list[dict[str, Any]]]]:
    """Per stream, the newest archive hour holding records, with its records (blocking)."""
    found: dict[str, tuple[ArchiveName, list[dict[str, Any]]]] = {}
    for stream, files in files_by_stream(assets_dir).items():
        for name, path in reversed(files):
            records = _records(name, path)
            if records:
                found[stream] = (name, records)
                break
    return found


def downtime_gaps(
    assets_dir: Path,
    now_ns: int,
    source: str,
    interrupted: Callable[[str, int], bool] | None = None,
) -> list[Record]:
    """The ``service_down`` gap records of this start (none on a first start; blocking).

    ``interrupted(day, last_ns)``: whether a scalp stream whose newest record of ``day``
    (YYYYMMDD, an earlier day) is at ``last_ns`` was stopped while that day's streaming was on.
    """
    gaps: list[Record] = []
    today = kst_iso(now_ns)[:10].replace("-", "")
    for stream, (name, found) in sorted(last_archived(assets_dir).items()):
        records = [obj for obj in found if obj["recv_ns"] < now_ns]  # a clock set back: none
        if not records:
            continue
        newest = max(records, key=lambda obj: obj["recv_ns"])
        per_symbol = name.day == today or (
            interrupted is not None and interrupted(name.day, newest["recv_ns"])
        )
        if stream == "scalp" and per_symbol:
            symbol_gaps = _symbol_gaps(records, now_ns, source)
            gaps.extend(symbol_gaps)
            if symbol_gaps:
                continue
        gaps.append(_gap(now_ns, source, stream, newest, "", "stream"))
    return gaps


def _symbol_gaps(records: list[dict[str, Any]], now_ns: int, source: str) -> list[Record]:
    """One gap per symbol, from its last record, with its last trade's cumulative volume."""
    last: dict[str, dict[str, Any]] = {}
    traded: dict[str, tuple[str, int]] = {}  # symbol -> (business date, newest acc_volume)
    for obj in records:
        symbol = obj.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            continue
        last[symbol] = obj
        data = obj.get("data")
        if obj.get("tr_id") not in KRX_TRADE_TR_IDS or not isinstance(data, dict):
            continue
        day, acc = data.get("business_date"), data.get("acc_volume")
        if isinstance(day, str) and type(acc) is int and (day, acc) > traded.get(symbol, ("", -1)):
            traded[symbol] = (day, acc)
    gaps = []
    for symbol, obj in sorted(last.items()):
        gap = _gap(now_ns, source, "scalp", obj, symbol, "symbol")
        day_acc = traded.get(symbol)
        gap.data["business_date"] = day_acc[0] if day_acc else None
        gap.data["acc_volume_from"] = day_acc[1] if day_acc else None
        gaps.append(gap)
    return gaps


def _gap(
    now_ns: int, source: str, stream: str, obj: dict[str, Any], symbol: str, scope: str
) -> Record:
    tr_id = obj.get("tr_id") if scope == "symbol" else None
    return gap_record(
        source, now_ns, obj["recv_ns"], now_ns, DOWN_REASON,
        scope=scope, symbol=symbol, tr_id=tr_id, stream=stream, last_seq=obj.get("seq"),
    )  # fmt: skip
