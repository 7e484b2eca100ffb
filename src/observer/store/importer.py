"""``observer import``: load archive files and the earlier system's JSONL into PostgreSQL.

Paths may be files or directories (searched recursively for ``*.jsonl`` and ``*.jsonl.zst``).
Every line is detected on its own: Observer's archive format, or one of the legacy formats
(:mod:`observer.store.legacy`). Rows go through the same staging + ``ON CONFLICT DO NOTHING``
path as the loader, so importing the same files again loads nothing twice; the summary counts
loaded, duplicate and rejected lines (with reasons). Each rejected line is written with its
reason to a rejects file (JSON lines), which the summary names.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

import orjson
import zstandard

from observer.archive.reader import file_chunks
from observer.config.settings import Settings
from observer.store.batch import BatchWriter, RowBatch, connect_writer
from observer.store.exceptions import StoreError
from observer.store.feed import LineFeed
from observer.store.legacy import LegacyConverter, is_archive_record
from observer.store.migrations import migrate
from observer.store.rows import RowError

log = logging.getLogger(__name__)

PRIMARY_TABLES: Final = ("ticks", "quotes", "system_events")
SUFFIXES: Final = (".jsonl", ".jsonl.zst")


@dataclass(slots=True)
class ImportSummary:
    """What an import did: lines read, rows loaded per table, duplicates, rejects by reason."""

    files: int = 0
    lines: int = 0
    loaded: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    unreadable_files: list[str] = field(default_factory=list)
    rejects_file: Path | None = None

    @property
    def loaded_lines(self) -> int:
        """Lines that became new rows (ticks, quotes, system events)."""
        return sum(self.loaded[t] for t in PRIMARY_TABLES)

    @property
    def all_rejected(self) -> bool:
        """True when there were lines and every one of them was rejected."""
        return self.lines > 0 and sum(self.rejected.values()) >= self.lines


def import_files(paths: list[Path]) -> list[Path]:
    """The files named by ``paths`` (directories expanded, sorted by name)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
            )
        else:
            found.append(path)
    return found


class ArchiveImporter:
    """Imports files idempotently in batches of ``loader_batch_rows`` lines."""

    def __init__(
        self,
        settings: Settings,
        *,
        progress: Callable[[int], None] | None = None,
        rejects_path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.progress = progress
        self.rejects_path = rejects_path
        self._rejects: IO[bytes] | None = None
        self._legacy = LegacyConverter()
        self._torn: list[bytes] = []  # the current file's last line, when it has no newline

    async def run(self, paths: list[Path]) -> ImportSummary:
        """Import every file under ``paths``; migrates the database first."""
        summary = ImportSummary()
        await migrate(self.settings)
        db = await connect_writer(self.settings, "observer-import")
        try:
            writer = BatchWriter(db)
            for path in import_files(paths):
                await self._import_file(writer, path, summary)
        finally:
            await db.close()
            if self._rejects is not None:
                self._rejects.close()
        return summary

    async def _import_file(self, writer: BatchWriter, path: Path, summary: ImportSummary) -> None:
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except OSError as exc:
            log.error("cannot read %s: %s", path, exc)
            summary.unreadable_files.append(str(path))
            return
        summary.files += 1
        compressed = path.name.endswith(".zst")
        self._torn.clear()
        feed = LineFeed(file_chunks(path, path.name, torn=self._torn))
        done_bytes = 0
        try:
            while True:
                batch = RowBatch(keep_lines=self.rejects_path is not None)
                try:
                    position, exhausted = await asyncio.to_thread(
                        feed.fill, batch, self.settings.loader_batch_rows, None, self._add
                    )
                except (OSError, zstandard.ZstdError) as exc:
                    log.error("reading %s failed: %s", path, exc)
                    summary.unreadable_files.append(str(path))
                    return
                await self._write(writer, batch, summary)
                if self.progress is not None and not compressed and position is not None:
                    self.progress(min(position.offset, size) - done_bytes)
                    done_bytes = min(position.offset, size)
                if exhausted:
                    break
        finally:
            feed.close()
        if self.progress is not None and compressed:
            self.progress(size)

    def _add(self, batch: RowBatch, line: bytes) -> None:
        """Add one line the fast path did not take: an archive record or a legacy line."""
        text = line.rstrip(b"\r\n")
        if not text.strip(b" \t\r\n"):  # JSON whitespace only
            return
        torn = bool(self._torn) and line == self._torn[-1]
        obj = batch.parse(text, "truncated_line" if torn else "bad_json")
        if obj is None:
            return
        if is_archive_record(obj):
            batch.add_parsed(obj, text)
            return
        try:
            record = self._legacy.convert(obj)
        except RowError as err:
            batch.reject(err.reason, text)
        else:
            batch.add(record, text)

    async def _write(self, writer: BatchWriter, batch: RowBatch, summary: ImportSummary) -> None:
        counts = await writer.write(batch) if batch.row_count else {}
        self._write_rejects(batch, summary)
        summary.lines += batch.records
        summary.rejected.update(batch.rejected)
        summary.skipped.update(batch.skipped)
        summary.loaded.update(counts)
        # Rows the server refused were counted as rejected by the writer, not as duplicates.
        refused = Counter(r.table for r in batch.refused)
        sent = {t: batch.table_rows(t) - refused[t] for t in PRIMARY_TABLES}
        summary.duplicates += sum(sent[t] - counts.get(t, 0) for t in PRIMARY_TABLES)

    def _write_rejects(self, batch: RowBatch, summary: ImportSummary) -> None:
        """Append the batch's rejected lines (and rows the server refused) to the rejects file."""
        if self.rejects_path is None or not (batch.rejected_lines or batch.refused):
            return
        if self._rejects is None:
            try:
                self._rejects = self.rejects_path.open("ab")
            except OSError as exc:
                raise StoreError(
                    f"cannot write the rejects file {self.rejects_path}: {exc}"
                ) from exc
            summary.rejects_file = self.rejects_path
        out = self._rejects
        for line, reason in batch.rejected_lines:
            text = line.decode("utf-8", "replace")
            out.write(orjson.dumps({"reason": reason, "line": text}) + b"\n")
        for refused in batch.refused:
            entry = {"reason": f"refused_{refused.table}: {refused.reason}", "row": refused.row}
            out.write(orjson.dumps(entry, default=str) + b"\n")
        out.flush()
