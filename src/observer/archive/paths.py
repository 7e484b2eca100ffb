"""Archive file names: ``<stream>_YYYYMMDD_HH.jsonl[.zst]`` by the KST hour of receive time.

Hours are handled as integer *hour indexes* (whole KST hours since the epoch) so the writer's
hot path needs one integer division per record. Closed hours are compressed to ``.jsonl.zst``
and listed in the per-day manifest ``manifest_YYYYMMDD.sha256``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

HOUR_NS: Final = 3_600_000_000_000
KST_OFFSET_NS: Final = 9 * HOUR_NS
PLAIN_SUFFIX: Final = ".jsonl"
ZST_SUFFIX: Final = ".jsonl.zst"
TMP_SUFFIX: Final = ".tmp"
_EPOCH: Final = datetime(1970, 1, 1)
_NAME_RE: Final = re.compile(r"^([a-z]+)_(\d{8})_(\d{2})\.jsonl(\.zst)?$")
_MANIFEST_RE: Final = re.compile(r"^manifest_(\d{8})\.sha256$")


def hour_index(epoch_ns: int) -> int:
    """The KST hour (whole hours since the epoch, KST wall time) containing ``epoch_ns``."""
    return (epoch_ns + KST_OFFSET_NS) // HOUR_NS


def hour_start_ns(index: int) -> int:
    """Epoch nanoseconds at the start of KST hour ``index``."""
    return index * HOUR_NS - KST_OFFSET_NS


def hour_label(index: int) -> str:
    """``YYYYMMDD_HH`` of KST hour ``index``."""
    return (_EPOCH + timedelta(hours=index)).strftime("%Y%m%d_%H")


def plain_name(stream: str, index: int) -> str:
    """The plain file name of ``stream`` for KST hour ``index``."""
    return f"{stream}_{hour_label(index)}{PLAIN_SUFFIX}"


def day_label(day: date | str) -> str:
    """``YYYYMMDD`` for a date or an already formatted day."""
    return day if isinstance(day, str) else day.strftime("%Y%m%d")


def manifest_name(day: date | str) -> str:
    """The per-day manifest file name."""
    return f"manifest_{day_label(day)}.sha256"


def manifest_day(name: str) -> str | None:
    """``YYYYMMDD`` of a manifest file name, or None when ``name`` is not a manifest."""
    m = _MANIFEST_RE.match(name)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class ArchiveName:
    """A parsed archive file name."""

    stream: str
    day: str  # YYYYMMDD (KST)
    hour: int  # 0..23 (KST)
    compressed: bool

    @property
    def index(self) -> int:
        """The KST hour index of this file."""
        d = datetime.strptime(self.day, "%Y%m%d")
        return (d - _EPOCH) // timedelta(hours=1) + self.hour

    @property
    def plain(self) -> str:
        """The file name without ``.zst`` (the name positions refer to)."""
        return f"{self.stream}_{self.day}_{self.hour:02d}{PLAIN_SUFFIX}"

    @property
    def zst(self) -> str:
        """The compressed file name."""
        return self.plain + ".zst"


def parse_name(name: str) -> ArchiveName | None:
    """Parse an archive file name; None for anything else (manifests, temp files)."""
    m = _NAME_RE.match(name)
    if m is None:
        return None
    hour = int(m.group(3))
    if hour > 23:
        return None
    return ArchiveName(m.group(1), m.group(2), hour, m.group(4) is not None)
