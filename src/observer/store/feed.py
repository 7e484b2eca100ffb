"""Archive lines -> batches: the one loop the loader and ``observer import`` share.

A :class:`LineFeed` hands out the complete lines of a run of chunks (the archive reader's
``iter_chunks``, or its ``file_chunks`` of any JSONL file) a batch at a time. Runs of trades the
C fast path takes go to it a chunk at a time; every other line goes to the caller's
``add_line`` (the loader parses archive records, the importer also reads legacy formats).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Final

from observer.archive.reader import Chunk, Position
from observer.store.batch import RowBatch

DEADLINE_EVERY: Final = 1023  # records between clock looks while lines go one by one

AddLine = Callable[[RowBatch, bytes], None]


class LineFeed:
    """A run of chunks handed out a batch at a time: where the last batch stopped. Only one
    thread uses it at a time."""

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self.chunks = chunks
        self.file = ""
        self.base = 0  # the file offset of data[0]
        self.data = b""
        self.end = 0  # data[:end] are complete lines
        self.pos = 0  # the next line starts at data[pos]

    def close(self) -> None:
        """Close the chunk iterator (and the file it reads)."""
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()

    def fill(
        self, batch: RowBatch, limit: int, deadline: float | None, add_line: AddLine
    ) -> tuple[Position | None, bool]:
        """Add lines to ``batch`` until it holds ``limit`` records, ``deadline`` (monotonic) has
        passed or the lines run out: (the position after the last line added, None when there
        was none; whether the lines ran out)."""
        data, end, pos, base, file = self.data, self.end, self.pos, self.base, self.file
        moved = exhausted = False
        while batch.records < limit:
            if pos >= end:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                chunk = next(self.chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                data, end, pos, base, file = chunk.data, chunk.end, 0, chunk.offset, chunk.file
                continue
            taken_to = batch.take_lines(data, pos, limit - batch.records)
            if taken_to > pos:
                pos, moved = taken_to, True
                continue
            newline = data.index(b"\n", pos)
            line = data[pos:newline]
            pos, moved = newline + 1, True
            if line:  # refused by take_lines, or before the batch had a fast path
                add_line(batch, line)
                if not batch.records & DEADLINE_EVERY and deadline is not None:
                    if time.monotonic() >= deadline:
                        break
        self.data, self.end, self.pos, self.base, self.file = data, end, pos, base, file
        return (Position(file, base + pos) if moved else None), exhausted
