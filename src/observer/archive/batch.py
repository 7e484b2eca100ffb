"""One commit's worth of records: seqs assigned, lines serialised, grouped by target file.

Runs on the event loop (cheap, no I/O). Routing rule: a record goes to its KST receive hour,
raised to the stream's *floor* (never an hour before the clock's current one or before a newer
file of the same stream), so ``seq`` order equals file order. A record that cannot be
serialised fails alone and gives its seq back; it is returned for the quarantine (one
submitted alone also fails its future; one of a list does not fail the others).
"""

from __future__ import annotations

import asyncio

from observer.archive.exceptions import ArchiveError
from observer.archive.paths import HOUR_NS, KST_OFFSET_NS
from observer.pipeline.record import Record

# A queued entry: one record or a list (submit_many), its future, its enqueue time.
Entry = tuple[Record | list[Record], "asyncio.Future[int]", float]


class Group:
    """The lines of one batch bound for one file (one stream, one KST hour)."""

    __slots__ = ("count", "data", "first_seq", "index", "last_ns", "last_seq", "stream")

    def __init__(self, stream: str, index: int) -> None:
        self.stream = stream
        self.index = index
        self.data = bytearray()
        self.first_seq = 0
        self.last_seq = 0
        self.last_ns = 0
        self.count = 0


def group_batch(
    batch: list[Entry],
    floor: dict[str, int],
    next_seq: dict[str, int],
    unencodable: list[tuple[Record, str]] | None = None,
) -> tuple[list[Group], list[int | Exception]]:
    """Assign seqs, serialise, and group by target file; per entry its last group index.

    Records that cannot be serialised are appended to ``unencodable`` with the reason.
    """
    groups: list[Group] = []
    by_file: dict[tuple[str, int], int] = {}
    marks: list[int | Exception] = []
    for item, _future, _t in batch:
        mark: int | Exception = -1
        for record in item if isinstance(item, list) else (item,):
            stream: str = record.stream
            index = (record.recv_ns + KST_OFFSET_NS) // HOUR_NS
            if index < floor[stream]:
                index = floor[stream]
            gi = by_file.get((stream, index))
            if gi is None:
                gi = by_file[(stream, index)] = len(groups)
                groups.append(Group(stream, index))
                floor[stream] = index
            group = groups[gi]
            record.seq = next_seq[stream]
            try:
                line = record.to_line()
            except TypeError as exc:
                if unencodable is not None:
                    unencodable.append((record, str(exc)))
                record.seq = 0
                if not isinstance(item, list):
                    mark = ArchiveError(f"record not serialisable (quarantined): {exc}")
                continue
            next_seq[stream] += 1
            if not group.count:
                group.first_seq = record.seq
            group.data += line
            group.last_seq = record.seq
            group.last_ns = record.recv_ns
            group.count += 1
            if not isinstance(mark, Exception) and gi > mark:
                mark = gi
        marks.append(mark)
    return groups, marks
