"""Universe snapshots (``<snapshot_dir>/YYYYMMDD_universe.json``) -> ``universe_members``.

The loader offers each new or changed snapshot file once per connection; rows go in with
``ON CONFLICT DO NOTHING``, so offering a file again is harmless.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import orjson

from observer.store.batch import RowBatch

log = logging.getLogger(__name__)
_SNAPSHOT_NAME = re.compile(r"^(\d{8})_universe\.json$")


def snapshot_batch(path: Path) -> RowBatch:
    """The universe_members rows of one snapshot file (rejected when it does not parse)."""
    batch = RowBatch()
    try:
        obj = orjson.loads(path.read_bytes())
        day = str(obj["date"])
        for item in obj["symbols"]:
            prev = item.get("prev_close")
            batch.rows["universe_members"].append(
                (
                    day,
                    str(item["code"]),
                    item.get("name"),
                    item.get("market"),
                    prev if isinstance(prev, int) else None,
                    "snapshot",
                )
            )
            batch.records += 1
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        log.warning("universe snapshot %s unreadable: %s", path.name, exc)
        batch.rows["universe_members"].clear()
        batch.reject("bad_snapshot")
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
            paths = sorted(self.directory.iterdir())
        except OSError:
            return []
        for path in paths:
            if not _SNAPSHOT_NAME.match(path.name):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            if self.loaded.get(path.name) != key:
                out.append((path.name, key, snapshot_batch(path)))
        return out
