"""Reading the archive: files in time order, complete lines, resumable positions.

A :class:`Position` names a file by its plain name (without ``.zst``) and a byte offset in its
*uncompressed* content just after a line, so a position taken while an hour was plain still
works after the hour was compressed. Only complete lines (ending in ``\\n``) are yielded: the
tail of a file being written, or a torn tail before recovery, is never seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Final, NamedTuple

import orjson
import zstandard

from observer.archive.files import stream_files
from observer.archive.paths import day_label, parse_name

log = logging.getLogger(__name__)
CHUNK: Final = 4 << 20


class Position(NamedTuple):
    """Where a reader stopped: plain file name and the offset just after the last line read."""

    file: str
    offset: int


class Chunk(NamedTuple):
    """Consecutive complete lines of one file, each with its ``\\n``: ``data[:end]``, the first
    at ``offset`` of the file's plain content. Whatever follows ``end`` in ``data`` is the start
    of a line not complete yet (it holds no ``\\n``); it comes again in the next chunk."""

    file: str
    offset: int
    data: bytes
    end: int


class ArchiveReader:
    """Reads one archive directory; plain and compressed hours alike."""

    def __init__(self, assets_dir: Path) -> None:
        self.assets_dir = Path(assets_dir)
        self.unreadable = 0  # lines iter_records could not parse (counted, skipped)

    def files(self, stream: str) -> list[Path]:
        """The stream's files, oldest hour first; an hour appears once (its .zst if present)."""
        return stream_files(self.assets_dir, stream)

    def day_files(self, stream: str, first: date | str, last: date | str) -> list[Path]:
        """The stream's files of the KST days ``first`` to ``last``, oldest hour first."""
        low, high = day_label(first), day_label(last)
        return [
            path
            for path in self.files(stream)
            if (name := parse_name(path.name)) is not None and low <= name.day <= high
        ]

    def iter_lines(
        self, stream: str, start: Position | None = None, *, until_file: str | None = None
    ) -> Iterator[tuple[bytes, Position]]:
        """Complete lines (without ``\\n``) from ``start`` on, each with the position after it.

        ``until_file`` (a plain name) is the last file read; later hours are not touched.
        """
        for chunk in self.iter_chunks(stream, start, until_file=until_file):
            pos = chunk.offset
            for line in chunk.data[: chunk.end].split(b"\n")[:-1]:
                pos += len(line) + 1
                if line:
                    yield line, Position(chunk.file, pos)

    def iter_chunks(
        self, stream: str, start: Position | None = None, *, until_file: str | None = None
    ) -> Iterator[Chunk]:
        """The same lines as :meth:`iter_lines` a read buffer at a time, for callers that
        need the position only now and then (the loader): no per-line object."""
        for path in self.files(stream):
            plain = path.name.removesuffix(".zst")
            if start is not None and plain < start.file:
                continue
            if until_file is not None and plain > until_file:
                return
            offset = start.offset if start is not None and plain == start.file else 0
            yield from file_chunks(path, plain, offset)

    def iter_records(
        self, stream: str, start: Position | None = None, *, until_file: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Parsed records; lines that are not JSON objects are counted in ``unreadable``."""
        loads = orjson.loads
        for line, position in self.iter_lines(stream, start, until_file=until_file):
            try:
                obj = loads(line)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                yield obj
            else:
                self.unreadable += 1
                log.warning("archive: unreadable line before %s:%d", *position)


def file_chunks(
    path: Path, plain: str, offset: int = 0, *, torn: list[bytes] | None = None
) -> Iterator[Chunk]:
    """The complete lines of a plain or ``.zst`` file from ``offset`` of its plain content, as
    chunks named ``plain`` (``torn`` as in :func:`split_chunks`). A plain file gone when it is
    opened is read from its ``.zst`` (compressed since it was listed)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        if path.name.endswith(".zst"):
            raise
        path = path.with_name(plain + ".zst")
        fh = path.open("rb")
    with fh:
        if path.name.endswith(".zst"):
            with zstandard.ZstdDecompressor().stream_reader(fh) as source:
                yield from split_chunks(source, plain, offset, skip=True, torn=torn)
        else:
            fh.seek(offset)
            yield from split_chunks(fh, plain, offset, torn=torn)


def split_chunks(
    source: BinaryIO | Any,
    plain: str,
    offset: int,
    *,
    skip: bool = False,
    torn: list[bytes] | None = None,
) -> Iterator[Chunk]:
    """Split a byte stream into chunks of complete lines; ``skip`` discards ``offset`` bytes
    first. With ``torn``, a last line without its newline comes as a chunk of its own (a
    newline added) and is also appended to ``torn``; else it is left for a later read."""
    if skip:
        remaining = offset
        while remaining > 0:
            got = source.read(min(CHUNK, remaining))
            if not got:
                return
            remaining -= len(got)
    pos = offset
    carry = b""
    while chunk := source.read(CHUNK):
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield Chunk(plain, pos, data, cut)  # not sliced: one copy fewer
            pos += cut
    if carry and torn is not None:
        torn.append(carry)
        yield Chunk(plain, pos, carry + b"\n", len(carry) + 1)
