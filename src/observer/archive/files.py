"""Finding the archive's stream files and reading the last ``seq`` of one: each done once here.

:func:`scan` is the one directory scan (names parsed by :func:`observer.archive.paths.parse_name`,
anything else ignored); recovery, the reader and the loader's lag figure all take their files
from it. :func:`last_seq` reads a file's last readable ``seq`` (a plain file from its tail
backwards, a ``.zst`` by streaming it); :func:`newest_head` (and :func:`newest_seq`) is its
cheap, forgiving form for lag figures: the newest record's ``seq`` and receive time.
:func:`tail_lines` gives the lines of a file's last few MiB (the start-up downtime scan).
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import orjson
import zstandard

from observer.archive.paths import ArchiveName, parse_name
from observer.archive.segment import whole_lines_end

TAIL_CHUNK = 64 * 1024
ZST_CHUNK = 1 << 20

ArchiveFile = tuple[ArchiveName, Path]


def scan(assets_dir: Path, stream: str | None = None) -> list[ArchiveFile]:
    """Every archive file (of ``stream`` only, if given), by stream then oldest hour first
    (plain before .zst within an hour). An absent directory holds no files."""
    prefix = f"{stream}_" if stream is not None else ""
    found: list[ArchiveFile] = []
    try:
        entries = list(os.scandir(assets_dir))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        parsed = parse_name(entry.name)
        if parsed is not None and entry.is_file() and (stream is None or parsed.stream == stream):
            found.append((parsed, Path(entry.path)))
    found.sort(key=lambda item: (item[0].stream, item[0].day, item[0].hour, item[0].compressed))
    return found


def files_by_stream(assets_dir: Path) -> dict[str, list[ArchiveFile]]:
    """Every archive file grouped by stream, oldest hour first (plain before .zst)."""
    grouped: dict[str, list[ArchiveFile]] = {}
    for name, path in scan(assets_dir):
        grouped.setdefault(name.stream, []).append((name, path))
    return grouped


def stream_files(assets_dir: Path, stream: str) -> list[Path]:
    """One stream's files, oldest hour first; an hour appears once (its .zst if present)."""
    chosen: dict[str, Path] = {}
    for name, path in scan(assets_dir, stream):
        chosen[name.plain] = path  # the .zst sorts after the plain file of its hour
    return list(chosen.values())  # in scan order: oldest hour first


def newest_plain_file(assets_dir: Path, stream: str) -> Path | None:
    """The newest uncompressed file of ``stream``, or None."""
    plain = [path for name, path in scan(assets_dir, stream) if not name.compressed]
    return plain[-1] if plain else None


def record_head(line: bytes) -> tuple[int, int | None] | None:
    """(``seq``, ``recv_ns``) of one archive line; None when it has no integer ``seq`` or is
    not JSON (``recv_ns`` None when it has none)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("seq"), int):
        return None
    recv_ns = obj.get("recv_ns")
    return obj["seq"], recv_ns if isinstance(recv_ns, int) else None


def seq_of(line: bytes) -> int | None:
    """The ``seq`` of one archive line, or None when it has none or is not JSON."""
    head = record_head(line)
    return None if head is None else head[0]


def _last_head_in_lines(lines: list[bytes]) -> tuple[int, int | None] | None:
    for line in reversed(lines):
        if line:
            head = record_head(line)
            if head is not None:
                return head
    return None


def _last_head_plain(path: Path) -> tuple[int, int | None] | None:
    with path.open("rb") as fh:
        end = whole_lines_end(fh.fileno(), fh.seek(0, os.SEEK_END))
        carry = b""
        while end > 0:
            start = max(0, end - TAIL_CHUNK)
            fh.seek(start)
            lines = (fh.read(end - start) + carry).split(b"\n")
            carry = lines.pop(0) if start > 0 else b""
            head = _last_head_in_lines(lines)
            if head is not None:
                return head
            end = start
    return None


def _last_seq_zst(path: Path) -> int | None:
    best: int | None = None
    carry = b""
    with path.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        while chunk := reader.read(ZST_CHUNK):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            head = _last_head_in_lines(lines)
            if head is not None:
                best = head[0]
    return best


def last_seq(name: ArchiveName, path: Path) -> int | None:
    """The ``seq`` of the last readable complete line of one archive file (None if none)."""
    if name.compressed:
        return _last_seq_zst(path)
    head = _last_head_plain(path)
    return None if head is None else head[0]


def newest_head(assets_dir: Path, stream: str) -> tuple[int, int | None] | None:
    """(``seq``, ``recv_ns``) of the last record in the newest plain file of ``stream``; None
    if none or unreadable.

    For lag figures: one directory scan and, normally, one small read from the file's end.
    """
    try:
        path = newest_plain_file(assets_dir, stream)
        return None if path is None else _last_head_plain(path)
    except OSError:
        return None


def newest_seq(assets_dir: Path, stream: str) -> int | None:
    """The last ``seq`` in the newest plain file of ``stream``; None if none or unreadable."""
    head = newest_head(assets_dir, stream)
    return None if head is None else head[0]


def tail_lines(name: ArchiveName, path: Path, max_bytes: int) -> list[bytes]:
    """The complete lines among the last ``max_bytes`` of one archive file (a ``.zst`` is
    streamed, so memory stays near ``max_bytes``); a line cut by the window is left out.

    One byte before the window is read too: the first piece is then what lies before the
    window's first newline, cut or (when the window starts on a line start) empty.
    """
    keep = max_bytes + 1
    if not name.compressed:
        with path.open("rb") as fh:
            start = max(0, fh.seek(0, os.SEEK_END) - keep)
            fh.seek(start)
            lines = fh.read().split(b"\n")
        return lines[1:] if start > 0 else lines
    chunks: deque[bytes] = deque()
    held = 0
    cut = False
    with path.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        while chunk := reader.read(ZST_CHUNK):
            chunks.append(chunk)
            held += len(chunk)
            while held - len(chunks[0]) >= keep:  # the window is full without the oldest
                held -= len(chunks.popleft())
                cut = True
    tail = b"".join(chunks)
    if len(tail) > keep:
        tail, cut = tail[-keep:], True
    lines = tail.split(b"\n")
    return lines[1:] if cut else lines
