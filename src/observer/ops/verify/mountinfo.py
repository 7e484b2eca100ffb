"""Which mount a path lives on, from ``/proc/self/mountinfo`` (see proc(5))."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    """One line of mountinfo: the mount point, its options and what is mounted there."""

    mount_id: int
    mount_point: str
    options: frozenset[str]
    fs_type: str
    source: str

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Every mount in the order the kernel lists them (later entries cover earlier ones)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 3:
            continue
        per_mount = set(fields[5].split(","))
        super_options = set(fields[sep + 3].split(",")) if len(fields) > sep + 3 else set()
        options = per_mount | ({"ro"} if "ro" in super_options else set())
        entries.append(
            MountEntry(
                int(fields[0]),
                _unescape(fields[4]),
                frozenset(options),
                fields[sep + 1],
                _unescape(fields[sep + 2]),
            )
        )
    return entries


def read_mountinfo(path: Path) -> list[MountEntry]:
    """Parse a mountinfo file (``/proc/self/mountinfo`` in production)."""
    return parse_mountinfo(path.read_text(encoding="utf-8", errors="replace"))


def mount_of(path: Path, entries: list[MountEntry]) -> MountEntry | None:
    """The mount holding ``path``: the deepest mount point at or above its real path (the
    last listed wins when one point is mounted twice)."""
    target = PurePosixPath(os.path.realpath(path))
    best: MountEntry | None = None
    best_depth = -1
    for entry in entries:
        point = PurePosixPath(entry.mount_point)
        if target == point or point in target.parents:
            depth = len(point.parts)
            if depth >= best_depth:
                best, best_depth = entry, depth
    return best
