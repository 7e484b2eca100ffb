"""Start-up recovery: cut torn tails and find where each stream's ``seq`` resumes.

A crash can leave the last line of a plain file without its ``\\n`` (the write was cut short).
Such a line was never acknowledged (acknowledgement follows fsync of whole lines), so it is cut
off with ``ftruncate`` + fsync, counted and logged. A corrupt *complete* line in the middle is
left alone; the reader counts it as unreadable. The last ``seq`` of each stream is read from
the newest file holding records, plain or compressed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

from observer.archive.paths import ArchiveName, parse_name
from observer.archive.segment import whole_lines_end
from observer.metrics import Metrics

log = logging.getLogger(__name__)
TAIL_CHUNK = 64 * 1024


@dataclass(slots=True)
class Truncation:
    """One torn tail that was cut off."""

    file: str
    offset: int  # the file's new size
    bytes_cut: int


@dataclass(slots=True)
class RecoveryReport:
    """What start-up recovery found and did."""

    files_checked: int = 0
    truncations: list[Truncation] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)
    newest: dict[str, str] = field(default_factory=dict)  # stream -> newest file name

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for the ``startup`` system record and /status)."""
        return asdict(self)


def archive_files(assets_dir: Path) -> dict[str, list[tuple[ArchiveName, Path]]]:
    """Every archive file by stream, oldest hour first (plain before .zst within an hour)."""
    found: dict[str, list[tuple[ArchiveName, Path]]] = {}
    if not assets_dir.is_dir():
        return found
    for entry in os.scandir(assets_dir):
        parsed = parse_name(entry.name)
        if parsed is not None and entry.is_file():
            found.setdefault(parsed.stream, []).append((parsed, Path(entry.path)))
    for files in found.values():
        files.sort(key=lambda item: (item[0].index, item[0].compressed))
    return found


def cut_torn_tail(path: Path) -> int:
    """Cut a last line that has no ``\\n``; returns how many bytes were cut (0 when intact)."""
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        keep = whole_lines_end(fh.fileno(), size)
        if keep == size:
            return 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


def _seq_of(line: bytes) -> int | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    seq = obj.get("seq") if isinstance(obj, dict) else None
    return seq if isinstance(seq, int) else None


def _last_seq_in_lines(lines: list[bytes]) -> int | None:
    for line in reversed(lines):
        if line:
            seq = _seq_of(line)
            if seq is not None:
                return seq
    return None


def _last_seq_plain(path: Path) -> int | None:
    with path.open("rb") as fh:
        end = whole_lines_end(fh.fileno(), fh.seek(0, os.SEEK_END))
        carry = b""
        while end > 0:
            start = max(0, end - TAIL_CHUNK)
            fh.seek(start)
            lines = (fh.read(end - start) + carry).split(b"\n")
            carry = lines.pop(0) if start > 0 else b""
            seq = _last_seq_in_lines(lines)
            if seq is not None:
                return seq
            end = start
    return None


def _last_seq_zst(path: Path) -> int | None:
    best: int | None = None
    carry = b""
    with path.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        while chunk := reader.read(1 << 20):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            seq = _last_seq_in_lines(lines)
            if seq is not None:
                best = seq
    return best


def last_seq(name: ArchiveName, path: Path) -> int | None:
    """The ``seq`` of the last readable complete line of one archive file (None if none)."""
    return _last_seq_zst(path) if name.compressed else _last_seq_plain(path)


def recover(assets_dir: Path, metrics: Metrics) -> RecoveryReport:
    """Cut torn tails of every plain file and find each stream's last ``seq`` (blocking)."""
    report = RecoveryReport()
    for stream, files in sorted(archive_files(assets_dir).items()):
        for name, path in files:
            report.files_checked += 1
            if name.compressed:
                continue
            cut = cut_torn_tail(path)
            if cut:
                size = path.stat().st_size
                report.truncations.append(Truncation(path.name, size, cut))
                metrics.recovered_truncations.inc()
                log.warning("archive recovery: cut a torn last line of %d bytes from %s", cut, path)
        report.newest[stream] = files[-1][0].plain
        for name, path in reversed(files):
            seq = last_seq(name, path)
            if seq is not None:
                report.last_seq[stream] = seq
                break
    return report
