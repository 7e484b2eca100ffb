"""One batch of archive records -> rows in PostgreSQL, exactly once.

:class:`RowBatch` turns archive lines into staging rows (counting rejects by reason);
:class:`BatchWriter` writes a batch in ONE transaction: binary COPY into temporary staging
tables, ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` into the real tables, the one-minute
bars merged from exactly the ticks that were new, and (for the loader) the stream checkpoint.
Either all of it commits or none of it does, so a crash at any point followed by a re-run
loads every record once.

Trades, almost every row of a catch-up, take a faster way when the C extension is built
(:mod:`observer.store.tickcopy`): their binary COPY data goes straight into the day partition
inside a savepoint, and their bars are aggregated before they are sent. If any of those rows is
already loaded (a batch read again after a crash), the savepoint is rolled back and the same data
goes through a typed staging table and ``ON CONFLICT DO NOTHING`` like everything else, so the
guarantee is the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from observer.store import rows as R
from observer.store import statements as SQL
from observer.store.connection import Database
from observer.store.exceptions import DuplicateObjectError, RowEncodingError
from observer.store.tickcopy import BAR_NAMES, BAR_TICK_NAMES, TICK_COPY_NAMES, TickCopy

log = logging.getLogger(__name__)
UNIQUE_VIOLATION: Final = "23505"

TABLES: Final = ("ticks", "quotes", "system_events", "gaps", "universe_members")
# Batches of at least this many copied trades (a catch-up: the loader is behind) are written
# over two connections. Smaller ones (following live) use one, so their rows become visible
# at once, in archive order, as a reader tailing ``ticks`` by receive time expects.
PARALLEL_MIN_TRADES: Final = 5_000
PARTITIONED: Final = ("ticks", "quotes", "bars_1m")


def load_session_settings(application_name: str) -> dict[str, str]:
    """Server settings for a connection that writes batches (loader, import)."""
    return {
        "application_name": application_name,
        # Rows and checkpoint commit together, so losing the newest commits in a server crash
        # only means re-reading them from the archive: exactly-once holds without a WAL flush.
        "synchronous_commit": "off",
        "work_mem": "64MB",  # the per-batch bar aggregation stays in memory
        "temp_buffers": "128MB",  # a whole batch fits in the staging tables without spilling
        "jit": "off",  # short per-batch statements: compiling them costs more than it saves
        # Bars are cut at UTC minutes, here and in the extension alike (whole-minute offsets,
        # such as KST's, give the same minutes in every zone).
        "TimeZone": "UTC",
    }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a stream's loading got to: the position after the last line of the batch."""

    stream: str
    file: str
    offset: int
    last_seq: int | None
    last_recv_ns: int | None


@dataclass(slots=True)
class RowBatch:
    """Rows for every table from a run of archive records, plus what was rejected and why."""

    rows: dict[str, list[R.Row]] = field(default_factory=lambda: {t: [] for t in TABLES})
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    records: int = 0
    last_seq: int | None = None
    last_recv_ns: int | None = None
    # Trades of one business day as binary COPY data (store/tickcopy.py), when the extension is
    # built; ``use_fast=False`` sends every record the general way.
    use_fast: bool = True
    fast: TickCopy | None = None

    def add(self, rec: dict[str, Any]) -> None:
        """Add one parsed archive record (rejects are counted, never raised)."""
        self.records += 1
        try:
            self._dispatch(rec)
        except R.RowError as err:
            self.rejected[err.reason] += 1
            return
        except KeyError as err:
            self.rejected[f"missing_{err.args[0]}"] += 1
            return
        except (TypeError, AttributeError):
            self.rejected["malformed_record"] += 1
            return
        seq = rec.get("seq")
        if isinstance(seq, int):
            self.last_seq = seq
        self.last_recv_ns = rec["recv_ns"]

    def add_line(self, line: bytes) -> None:
        """Add one archive line: a trade of the batch's day straight to binary COPY data when
        the extension takes it, anything else parsed and added like :meth:`add`."""
        if not self.take_fast(line):
            self.parse_and_add(line)

    def parse_and_add(self, line: bytes) -> None:
        """Add a line the fast path did not take (or has not seen yet: the batch's first trade
        starts the fast path): parsed, and added like :meth:`add`."""
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.reject("bad_json")
            return
        if type(rec) is not dict:
            self.reject("not_an_object")
            return
        self.add_parsed(rec, line)

    def take_lines(self, data: bytes, start: int, most: int) -> int:
        """Add the newline-ended lines of ``data`` from offset ``start`` through the fast path
        until ``most`` records are added or a line must go the general way; the offset of the
        first line not consumed. Nothing is consumed before the batch has a fast path."""
        fast = self.fast
        if fast is None:
            return start
        end, taken, seq, recv_ns = fast.add_lines(data, start, most)
        if taken:
            self._took(taken, seq, recv_ns)
        return end

    def take_fast(self, line: bytes) -> bool:
        """Add the line through the fast path if it is a trade the extension takes."""
        got = self.fast.add_line(line) if self.fast is not None else None
        if got is None:
            return False
        self._took(1, *got)
        return True

    def _took(self, taken: int, seq: int | None, recv_ns: int | None) -> None:
        """Count records the fast path took; the newest one's seq and receive time."""
        self.records += taken
        if seq is not None:
            self.last_seq = seq
        self.last_recv_ns = recv_ns

    def add_parsed(self, rec: dict[str, Any], line: bytes) -> None:
        """Add an archive record parsed from ``line``; the batch's first trade fixes the
        business day of its fast path."""
        if self.fast is None and self.use_fast:
            self.fast = TickCopy.for_record(rec)
            if self.take_fast(line):
                return
        self.add(rec)

    def reject(self, reason: str) -> None:
        """Count a line that did not even parse as a record."""
        self.records += 1
        self.rejected[reason] += 1

    def _dispatch(self, rec: dict[str, Any]) -> None:
        stream = rec["stream"]
        if stream == "scalp":
            if rec["tr_id"] in R.TICK_TR_IDS:
                self.rows["ticks"].append(R.tick_row(rec))
            else:
                self.skipped[str(rec["tr_id"])] += 1
        elif stream == "swing":
            self.rows["quotes"].append(R.quote_row(rec))
        elif stream == "system":
            self._system(rec)
        else:
            raise R.RowError("unknown_stream")

    def _system(self, rec: dict[str, Any]) -> None:
        row = R.system_row(rec)
        event = row[4]
        if event == "gap":
            self.rows["gaps"].append(R.gap_row(rec))
        elif event == "universe":
            member = R.universe_row(rec)
            if member is not None:
                self.rows["universe_members"].append(member)
        self.rows["system_events"].append(row)

    def table_rows(self, table: str) -> int:
        """Rows waiting for ``table`` (copied trades included)."""
        copied = self.fast.count if table == "ticks" and self.fast is not None else 0
        return copied + len(self.rows[table])

    @property
    def row_count(self) -> int:
        """Rows waiting for every table together."""
        copied = self.fast.count if self.fast is not None else 0
        return copied + sum(len(rows) for rows in self.rows.values())

    def drop_nonconforming(self) -> int:
        """Remove rows whose values cannot be encoded for their columns; how many went."""
        dropped = 0
        for table, rows in self.rows.items():
            keep = [row for row in rows if R.conforms(table, row)]
            if len(keep) != len(rows):
                self.rejected[f"bad_types_{table}"] += len(rows) - len(keep)
                dropped += len(rows) - len(keep)
                self.rows[table] = keep
        return dropped


def _count(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 5``."""
    return int(status.rsplit(" ", 1)[-1])


class BatchWriter:
    """Writes :class:`RowBatch` es over one connection (staging tables live per connection).

    With a ``helper`` connection, a large batch of copied trades (``PARALLEL_MIN_TRADES``) is
    written in two parts at once (the parts hold different symbols, so they never wait for each
    other): the helper's part in its own transaction, committed just before the batch's
    transaction with its checkpoint. A crash between the two commits leaves the helper's rows
    loaded without the checkpoint; the batch is read again and those rows meet their keys and
    are skipped, as any re-read row is.
    """

    def __init__(
        self,
        db: Database,
        helper: Database | None = None,
        *,
        parallel_min_trades: int = PARALLEL_MIN_TRADES,
    ) -> None:
        self.db = db
        self.helper = helper
        self.parallel_min_trades = parallel_min_trades
        self._partitions: set[tuple[str, str]] = set()
        self._prepared = False

    async def _prepare(self) -> None:
        if not self._prepared:
            for db in (self.db, self.helper):
                if db is not None:
                    for ddl in (*SQL.STAGING_DDL.values(), *SQL.FAST_STAGING_DDL):
                        await db.execute(ddl)
            self._prepared = True

    async def _ensure_partitions(self, batch: RowBatch) -> None:
        wanted: set[tuple[str, str]] = set()
        for row in batch.rows["ticks"]:
            wanted.add(("ticks", row[1]))
        for row in batch.rows["quotes"]:
            wanted.add(("quotes", row[1]))
        if batch.fast is not None and batch.fast.count:
            wanted.add(("ticks", batch.fast.day))
        wanted |= {("bars_1m", day) for table, day in wanted if table == "ticks"}
        for table, day in sorted(wanted - self._partitions):
            await self.db.execute(
                "SELECT observer_ensure_partition($1, $2::text::date)", table, day
            )
            self._partitions.add((table, day))

    async def write(
        self,
        batch: RowBatch,
        checkpoint: Checkpoint | None = None,
        *,
        after_copy: Callable[[], None] | None = None,
    ) -> dict[str, int]:
        """Insert the batch (and move the checkpoint) atomically; rows inserted per table.

        ``after_copy`` is called once the rows are in the staging tables, while the server
        merges them: the moment to start Python work without slowing the COPY down.
        """
        await self._prepare()
        await self._ensure_partitions(batch)
        try:
            return await self._write_once(batch, checkpoint, after_copy)
        except RowEncodingError as err:
            dropped = batch.drop_nonconforming()
            log.warning("batch had %d rows with unusable values (%s); retrying", dropped, err)
            if not dropped:
                raise
            return await self._write_once(batch, checkpoint, after_copy)

    async def _insert_ticks(self) -> int:
        """Staged ticks into ``ticks``, their bar inputs into ``stage_bar_ticks``: a plain INSERT
        in a savepoint first, the ON CONFLICT DO NOTHING form only when that meets a key
        already loaded. Returns how many were inserted."""
        try:
            async with self.db.transaction():  # nested: a savepoint of the batch's transaction
                return _count(await self.db.execute(SQL.INSERT_TICKS_NO_DUPLICATES))
        except DuplicateObjectError as err:
            if err.sqlstate != UNIQUE_VIOLATION:
                raise
        return _count(await self.db.execute(SQL.INSERT_TICKS))

    async def _copy_new(self, db: Database, fast: TickCopy, part: int, *, bars: bool) -> Any:
        """One part's copied trades straight into their day partition in a (sub)transaction of
        ``db``, and with ``bars`` their bars upserted in it, else their bar inputs staged. The
        row of ``bars``, or True, when all were new; None (nothing written) when one was
        already loaded."""
        rows, inputs = fast.payloads(part)
        try:
            async with db.transaction():  # a savepoint of the batch, or the helper's own
                await db.copy_binary(fast.partition, rows, TICK_COPY_NAMES)
                if not bars:
                    await db.copy_binary("stage_bar_ticks", inputs, BAR_TICK_NAMES)
                    return True
                aggregated = fast.aggregated_bars(part)
                if aggregated is None:
                    await db.copy_binary("stage_bar_ticks", inputs, BAR_TICK_NAMES)
                    return await db.fetchrow(SQL.MERGE_BARS)
                await db.copy_binary("stage_bars", aggregated, BAR_NAMES)
                return await db.fetchrow(SQL.UPSERT_STAGED_BARS)
        except DuplicateObjectError as err:
            if err.sqlstate != UNIQUE_VIOLATION:
                raise
            return None

    async def _insert_typed(self, fast: TickCopy, part: int) -> int:
        """One part's copied trades that meet loaded keys: typed staging, ON CONFLICT DO NOTHING,
        bar inputs staged. Returns how many were inserted."""
        rows, _ = fast.payloads(part)
        await self.db.copy_binary("stage_ticks_typed", rows, TICK_COPY_NAMES)
        return _count(await self.db.execute(SQL.INSERT_TYPED_TICKS))

    async def _copy_parts(self, fast: TickCopy) -> tuple[int, int, list[int]]:
        """Every part of a batch whose only trades are copied ones, each with its own bars
        (their symbols differ), the last part on the helper connection when there is one.
        Returns (ticks inserted, bars upserted, the parts that met loaded keys)."""
        parts = fast.parts()
        parallel = self.helper is not None and fast.count >= self.parallel_min_trades
        on_helper = parts.pop() if parallel and len(parts) > 1 else None
        results: list[tuple[int, Any]] = []

        async def main_parts() -> None:
            for part in parts:
                results.append((part, await self._copy_new(self.db, fast, part, bars=True)))

        async def helper_part(helper: Database, part: int) -> None:
            results.append((part, await self._copy_new(helper, fast, part, bars=True)))

        if on_helper is None or self.helper is None:
            await main_parts()
        else:  # committed when helper_part returns: before the batch, as it must be
            outcomes = await asyncio.gather(
                main_parts(), helper_part(self.helper, on_helper), return_exceptions=True
            )
            for outcome in outcomes:  # both finished: no statement left running on either
                if isinstance(outcome, BaseException):
                    raise outcome
        inserted = bars = 0
        met: list[int] = []
        for part, row in sorted(results):
            if row is None:
                met.append(part)
            else:
                inserted += fast.counts[part]
                bars += int(row["bars"])
        return inserted, bars, met

    async def _write_ticks(self, batch: RowBatch) -> tuple[int, int]:
        """Every trade of the batch (its general rows already in ``stage_ticks``) and their
        one-minute bars; (ticks inserted, bars upserted)."""
        fast = batch.fast if batch.fast is not None and batch.fast.count else None
        general = bool(batch.rows["ticks"])
        inserted = bars = 0
        staged: list[int] = []  # parts whose bars are merged below with everything else
        if fast is not None and not general:
            inserted, bars, staged = await self._copy_parts(fast)
            for part in staged:
                inserted += await self._insert_typed(fast, part)
        elif fast is not None:
            for part in fast.parts():  # bars merged once below, with the general rows' bars
                if await self._copy_new(self.db, fast, part, bars=False):
                    inserted += fast.counts[part]
                else:
                    inserted += await self._insert_typed(fast, part)
                staged.append(part)
        if general:
            inserted += await self._insert_ticks()
        if general or staged:
            merged = await self.db.fetchrow(SQL.MERGE_BARS)
            bars += int(merged["bars"])
        return inserted, bars

    async def _write_once(
        self,
        batch: RowBatch,
        checkpoint: Checkpoint | None,
        after_copy: Callable[[], None] | None,
    ) -> dict[str, int]:
        inserted: dict[str, int] = {}
        tables = [table for table in TABLES if batch.rows[table]]
        ticks = batch.table_rows("ticks") > 0
        async with self.db.transaction():
            for table in tables:
                columns = [name for name, _ in R.STAGING[table]]
                await self.db.copy_records("stage_" + table, batch.rows[table], columns)
            if after_copy is not None:
                after_copy()
            if ticks:
                inserted["ticks"], inserted["bars_1m"] = await self._write_ticks(batch)
            for table in tables:
                if table != "ticks":
                    status = await self.db.execute(SQL.INSERT[table])
                    inserted[table] = _count(status)
            if checkpoint is not None:
                await self.db.execute(
                    SQL.CHECKPOINT,
                    checkpoint.stream,
                    checkpoint.file,
                    checkpoint.offset,
                    checkpoint.last_seq,
                    checkpoint.last_recv_ns,
                    batch.records,
                    sum(batch.rejected.values()),
                )
        return inserted
