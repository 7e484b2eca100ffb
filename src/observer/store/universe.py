"""Universe snapshots (:mod:`observer.market.snapshots`) -> ``universe_members``.

The loader offers each new or changed snapshot file once per connection; rows go in with
``ON CONFLICT DO NOTHING``, so offering a file again is harmless.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from observer.market.exceptions import SnapshotError
from observer.market.snapshots import read_snapshot, snapshot_days, snapshot_path
from observer.store.batch import RowBatch

log = logging.getLogger(__name__)


def snapshot_batch(directory: Path, day: date) -> RowBatch:
    """The universe_members rows of the snapshot of ``day`` (rejected when it does not parse)."""
    batch = RowBatch()
    try:
        universe = read_snapshot(directory, day)
    except SnapshotError as exc:
        log.warning("universe snapshot %s", exc)
        batch.reject("bad_snapshot")
        return batch
    members = batch.rows["universe_members"]
    for s in universe.symbols:
        members.append(
            (f"{universe.day:%Y%m%d}", s.code, s.name, s.market, s.prev_close, "snapshot")
        )
    batch.records = len(members)
    return batch


class SnapshotTracker:
    """Remembers which snapshot files (by name, size and mtime) were loaded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loaded: dict[str, tuple[int, int]] = {}

    def pending(self) -> list[tuple[str, tuple[int, int], RowBatch]]:
        """New or changed snapshot files: name, (size, mtime) to mark it loaded with, and its
        rows (blocking I/O: run in a thread)."""
        out = []
        try:
            days = snapshot_days(self.directory)
        except OSError:
            return []
        for day in days:
            path = snapshot_path(self.directory, day)
            try:
                stat = path.stat()
            except OSError:
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            if self.loaded.get(path.name) != key:
                out.append((path.name, key, snapshot_batch(self.directory, day)))
        return out
