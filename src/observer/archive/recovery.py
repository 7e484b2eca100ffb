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

from observer.archive.files import files_by_stream, last_seq
from observer.archive.segment import whole_lines_end
from observer.metrics import Metrics

log = logging.getLogger(__name__)


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


def recover(assets_dir: Path, metrics: Metrics) -> RecoveryReport:
    """Cut torn tails of every plain file and find each stream's last ``seq`` (blocking)."""
    report = RecoveryReport()
    for stream, files in sorted(files_by_stream(assets_dir).items()):
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
