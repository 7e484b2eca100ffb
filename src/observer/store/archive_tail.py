"""The newest ``seq`` of an archive stream, read from the tail of its newest plain file.

Used only for the loader's lag figures, so it is cheap (one directory scan, one small read)
and forgiving: anything it cannot read simply gives ``None``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from observer.archive.paths import PLAIN_SUFFIX, parse_name

TAIL_BYTES = 65_536


def newest_plain_file(assets: Path, stream: str) -> Path | None:
    """The newest uncompressed archive file of ``stream``, or None."""
    best: tuple[str, int] | None = None
    best_name = ""
    try:
        entries = list(os.scandir(assets))
    except OSError:
        return None
    for entry in entries:
        if not entry.name.endswith(PLAIN_SUFFIX) or not entry.name.startswith(stream + "_"):
            continue
        parsed = parse_name(entry.name)
        if parsed is None or parsed.stream != stream:
            continue
        key = (parsed.day, parsed.hour)
        if best is None or key > best:
            best, best_name = key, entry.name
    return assets / best_name if best is not None else None


def last_complete_line(path: Path) -> bytes | None:
    """The last newline-terminated line of ``path`` (within its last 64 KiB), or None."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
    except OSError:
        return None
    end = tail.rfind(b"\n")
    if end < 0:
        return None
    begin = tail.rfind(b"\n", 0, end) + 1
    if begin == 0 and start > 0:
        return None
    return tail[begin:end]


def newest_seq(assets: Path, stream: str) -> int | None:
    """The ``seq`` of the newest complete record of ``stream``, or None if unknown."""
    path = newest_plain_file(assets, stream)
    if path is None:
        return None
    line = last_complete_line(path)
    if not line:
        return None
    try:
        seq = orjson.loads(line).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return seq if isinstance(seq, int) else None
