"""The service's own downtime is a gap: ``service_down`` records written at start-up.

Whether the last stop was clean or a SIGKILL, nothing was received between the last archived
record and this start. At start-up (after recovery, before anything new is written) one gap
per stream covers that window, from the stream's last archived record to now; for ``scalp``
it is one gap per symbol of the newest scalp hour (the symbols that were registered then),
each from that symbol's own last trade, when that hour is of today's KST day (a stop overnight
leaves no per-symbol hole: the market was closed).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import orjson
import zstandard

from observer.archive.files import files_by_stream
from observer.archive.paths import ArchiveName
from observer.clock import kst_iso
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
DOWN_REASON = "service_down"
TAIL_BYTES = 8 << 20  # the scan of an hour looks at its last 8 MiB only (bounded memory)


def _plain_lines(path: Path) -> list[bytes]:
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - TAIL_BYTES)
        fh.seek(start)
        lines = fh.read().split(b"\n")
    return lines[1:] if start > 0 else lines


def _zst_lines(path: Path) -> list[bytes]:
    """The lines of the last TAIL_BYTES of a compressed hour (streamed: memory stays bounded)."""
    tail = b""
    cut = False
    with path.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        while chunk := reader.read(1 << 20):
            tail += chunk
            if len(tail) > TAIL_BYTES:
                tail, cut = tail[-TAIL_BYTES:], True
    lines = tail.split(b"\n")
    return lines[1:] if cut else lines


def _records(name: ArchiveName, path: Path) -> list[dict[str, Any]]:
    try:
        lines = _zst_lines(path) if name.compressed else _plain_lines(path)
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


def downtime_gaps(assets_dir: Path, now_ns: int, source: str) -> list[Record]:
    """The ``service_down`` gap records of this start (none on a first start; blocking)."""
    gaps: list[Record] = []
    today = kst_iso(now_ns)[:10].replace("-", "")
    for stream, (name, found) in sorted(last_archived(assets_dir).items()):
        records = [obj for obj in found if obj["recv_ns"] < now_ns]  # a clock set back: none
        if not records:
            continue
        if stream == "scalp" and name.day == today:
            last: dict[str, dict[str, Any]] = {}
            for obj in records:
                symbol = obj.get("symbol")
                if isinstance(symbol, str) and symbol:
                    last[symbol] = obj
            for symbol, obj in sorted(last.items()):
                gaps.append(_gap(now_ns, source, stream, obj, symbol, "symbol"))
            if last:
                continue
        newest = max(records, key=lambda obj: obj["recv_ns"])
        gaps.append(_gap(now_ns, source, stream, newest, "", "stream"))
    return gaps


def _gap(
    now_ns: int, source: str, stream: str, obj: dict[str, Any], symbol: str, scope: str
) -> Record:
    tr_id = obj.get("tr_id") if scope == "symbol" else None
    return system_record(
        "gap",
        now_ns,
        source,
        symbol=symbol,
        scope=scope,
        start=kst_iso(obj["recv_ns"]),
        end=kst_iso(now_ns),
        reason=DOWN_REASON,
        missed_volume=None,
        tr_id=tr_id,
        stream=stream,
        last_seq=obj.get("seq"),
    )
