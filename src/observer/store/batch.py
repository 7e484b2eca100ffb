"""One batch of archive records -> rows in PostgreSQL, exactly once.

:class:`RowBatch` turns archive lines into rows (counting rejects by reason); :class:`BatchWriter`
writes a batch in ONE transaction, with the stream's checkpoint. Either all of it commits or
none of it does, so a crash at any point followed by a re-run loads every record once.

A trade reaches ``ticks`` one of two ways. Its typed row (built from the JSON text by the C
extension, :mod:`observer.store.tickcopy`, or by ``rows.tick_row``) goes by binary COPY straight
into the table inside a savepoint; if any row of the batch is already loaded (a batch read again
after a crash), the savepoint is rolled back and the same rows go through a staging table and
``INSERT ... ON CONFLICT DO NOTHING``. Either way the bar inputs of exactly the inserted trades
are staged and the one-minute bars merged from them once, by one SQL rule
(``statements.MERGE_BARS``). Other tables always go through staging and ``ON CONFLICT DO NOTHING``.

A row the server refuses (a NUL byte in a text, a value out of its column's range) would fail
the batch for ever: the writer then splits the batch until the one record is found, writes it to
``load_rejects`` with the reason, counts it, and loads the rest.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from observer.config.settings import Settings
from observer.store import rows as R
from observer.store import statements as SQL
from observer.store.connection import Database
from observer.store.exceptions import DuplicateObjectError, QueryError
from observer.store.tickcopy import TickCopy

log = logging.getLogger(__name__)
UNIQUE_VIOLATION: Final = "23505"
# SQLSTATE classes of a refused row (data exception, integrity violation, program limit).
REFUSED_CLASSES: Final = ("22", "23", "54")

TABLES: Final = ("ticks", *R.STAGING)  # every table a batch writes, in the order it writes them
TICK_NAMES: Final = [name for name, _ in R.TICK_COLUMNS]
BAR_TICK_NAMES: Final = [name for name, _ in R.BAR_TICK_COLUMNS]
_PRICE, _TRADE_VOLUME, _ACC_VOLUME = (
    TICK_NAMES.index(name) for name in ("price", "trade_volume", "acc_volume")
)
# Server settings of a connection that writes batches (loader, import).
WRITER_SESSION: Final = {
    # Rows and checkpoint commit together, so losing the newest commits in a server crash
    # only means re-reading them from the archive: exactly-once holds without a WAL flush.
    "synchronous_commit": "off",
    "work_mem": "64MB",  # the per-batch bar aggregation stays in memory
    "temp_buffers": "128MB",  # a whole batch fits in the staging tables without spilling
    "jit": "off",  # short per-batch statements: compiling them costs more than it saves
    # Bars are cut at UTC minutes (whole-minute offsets, such as KST's, give the same
    # minutes in every zone).
    "TimeZone": "UTC",
}


async def connect_writer(settings: Settings, application_name: str) -> Database:
    """A connection that writes batches (loader, import): every statement and COPY bounded by
    ``OBSERVER_DB_TIMEOUT_SECONDS``, so a server that stops answering fails as unavailable."""
    return await Database.connect(
        settings.db_dsn,
        label=settings.db_dsn_redacted,
        connect_seconds=settings.db_timeout_seconds,
        command_seconds=settings.db_timeout_seconds,
        server_settings={"application_name": application_name, **WRITER_SESSION},
    )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a stream's loading got to: the position after the last loaded line, the newest
    loaded record's seq and receive time, and (as stored) the lines and rejects so far."""

    stream: str
    file: str = ""
    offset: int = 0
    last_seq: int | None = None
    last_recv_ns: int | None = None
    lines: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Refused:
    """A row the server refused: its table, the row and why."""

    table: str
    row: R.Row
    reason: str
    sqlstate: str


@dataclass(slots=True)
class RowBatch:
    """Rows for every table from a run of archive records, plus what was rejected and why."""

    rows: dict[str, list[R.Row]] = field(default_factory=lambda: {t: [] for t in TABLES})
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    records: int = 0
    last_seq: int | None = None
    last_recv_ns: int | None = None
    # Trades of one business day as binary COPY data (store/tickcopy.py) when the fast path is
    # active (records added with ``add`` always go the general way).
    fast: TickCopy | None = None
    # Rows the server refused (filled by BatchWriter.write).
    refused: list[Refused] = field(default_factory=list)
    # With ``keep_lines``, each rejected line and its reason (for ``observer import``).
    keep_lines: bool = False
    rejected_lines: list[tuple[bytes, str]] = field(default_factory=list)

    def add(self, rec: dict[str, Any], line: bytes = b"") -> None:
        """Add one parsed archive record (rejects are counted, never raised)."""
        try:
            self._dispatch(rec)
        except R.RowError as err:
            self.reject(err.reason, line)
            return
        except KeyError as err:
            self.reject(f"missing_{err.args[0]}", line)
            return
        except (TypeError, AttributeError):
            self.reject("malformed_record", line)
            return
        self.records += 1
        seq, recv_ns = rec.get("seq"), rec.get("recv_ns")
        if isinstance(seq, int):
            self.last_seq = seq
        if isinstance(recv_ns, int):  # a skipped record is not checked: one without it is no error
            self.last_recv_ns = recv_ns

    def parse(self, line: bytes, bad_json: str = "bad_json") -> dict[str, Any] | None:
        """``line`` as a JSON object; None, counted as rejected, when it is not one."""
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.reject(bad_json, line)
            return None
        if type(rec) is not dict:
            self.reject("not_an_object", line)
            return None
        return rec

    def parse_and_add(self, line: bytes) -> None:
        """Add a line the fast path did not take (or has not seen yet: the batch's first trade
        starts the fast path): parsed, and added like :meth:`add`."""
        rec = self.parse(line)
        if rec is not None:
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
            self.records += taken
            if seq is not None:
                self.last_seq = seq
            self.last_recv_ns = recv_ns
        return end

    def add_parsed(self, rec: dict[str, Any], line: bytes) -> None:
        """Add an archive record parsed from ``line``; the batch's first trade fixes the
        business day of its fast path."""
        if self.fast is None:
            self.fast = TickCopy.for_record(rec)
            if self.take_lines(line + b"\n", 0, 1):  # the line (never holds a newline) taken
                return
        self.add(rec, line)

    def reject(self, reason: str, line: bytes = b"") -> None:
        """Count a line rejected with ``reason``."""
        self.records += 1
        self.rejected[reason] += 1
        if self.keep_lines:
            self.rejected_lines.append((line, reason))

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
            row = R.system_row(rec)
            if row[4] == "gap":
                self.rows["gaps"].append(R.gap_row(rec))
            elif row[4] == "universe" and (member := R.universe_row(rec)) is not None:
                self.rows["universe_members"].append(member)
            self.rows["system_events"].append(row)
        else:
            raise R.RowError("unknown_stream")

    def table_rows(self, table: str) -> int:
        """Rows waiting for ``table`` (copied trades included)."""
        copied = self.fast.count if table == "ticks" and self.fast is not None else 0
        return copied + len(self.rows[table])

    @property
    def row_count(self) -> int:
        """Rows waiting for every table together."""
        return sum(self.table_rows(table) for table in TABLES)


def _count(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 5``."""
    return int(status.rsplit(" ", 1)[-1])


def _refused(err: QueryError) -> bool:
    """True when ``err`` is the server (or the encoder) refusing a row's values."""
    return err.sqlstate[:2] in REFUSED_CLASSES or err.sqlstate == ""


def _bar_input(row: R.Row) -> R.Row:
    """What the bars need of a general tick row (the columns of stage_bar_ticks)."""
    return (
        row[0], row[1], row[2], row[3], row[_PRICE], row[_TRADE_VOLUME], row[_ACC_VOLUME],
        bool(row[10]), row[8],
    )  # fmt: skip


class BatchWriter:
    """Writes :class:`RowBatch` es over one connection (staging tables live per connection)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._partitions: set[tuple[str, Any]] = set()
        self._prepared = False

    async def _prepare(self, batch: RowBatch) -> None:
        """The staging tables (once per connection) and the day partitions of the batch."""
        if not self._prepared:
            for ddl in (*SQL.STAGING_DDL.values(), *SQL.TICK_STAGING_DDL):
                await self.db.execute(ddl)
            self._prepared = True
        wanted: set[tuple[str, Any]] = {("ticks", row[1]) for row in batch.rows["ticks"]}
        wanted |= {("quotes", row[1]) for row in batch.rows["quotes"]}
        if batch.fast is not None and batch.fast.count:
            wanted.add(("ticks", batch.fast.day))
        wanted |= {("bars_1m", day) for table, day in wanted if table == "ticks"}
        for table, day in sorted(wanted - self._partitions, key=str):
            await self.db.execute(
                "SELECT observer_ensure_partition($1, $2::text::date)", table, str(day)
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

        ``after_copy`` is called once the rows are sent, while the server merges them: the
        moment to start Python work without slowing the COPY down.
        """
        await self._prepare(batch)
        async with self.db.transaction():
            try:
                async with self.db.transaction():  # a savepoint: a refused row undoes only it
                    inserted = await self._write_rows(batch, after_copy)
            except QueryError as err:
                if not _refused(err):
                    raise
                stream = checkpoint.stream if checkpoint is not None else None
                inserted = await self._isolate(batch, err, stream)
            if checkpoint is not None:
                await self.db.execute(
                    SQL.CHECKPOINT, checkpoint.stream, checkpoint.file, checkpoint.offset,
                    checkpoint.last_seq, checkpoint.last_recv_ns, batch.records,
                    sum(batch.rejected.values()),
                )  # fmt: skip
        return inserted

    async def _write_rows(
        self, batch: RowBatch, after_copy: Callable[[], None] | None = None
    ) -> dict[str, int]:
        tables = [table for table in TABLES[1:] if batch.rows[table]]
        for table in tables:
            columns = [name for name, _ in R.STAGING[table]]
            await self.db.copy_records("stage_" + table, batch.rows[table], columns)
        inserted: dict[str, int] = {}
        if batch.table_rows("ticks"):
            inserted["ticks"] = await self._write_ticks(batch, after_copy)
            inserted["bars_1m"] = int(await self.db.fetchval(SQL.MERGE_BARS))
            await self.db.execute(SQL.CLEAR_BAR_INPUTS)
        elif after_copy is not None:
            after_copy()
        for table in tables:
            inserted[table] = _count(await self.db.execute(SQL.INSERT[table]))
        return inserted

    async def _send_ticks(self, batch: RowBatch, fast: TickCopy | None, staged: bool) -> None:
        """COPY every tick row of the batch into ``ticks`` (the day partition ``ticks_YYYYMMDD``
        for the copied trades) or, when ``staged``, into the typed staging table."""
        general = batch.rows["ticks"]
        if fast is not None:
            rows, _ = fast.payloads()
            await self.db.copy_binary(
                "stage_ticks" if staged else f"ticks_{fast.day}", rows, TICK_NAMES
            )
        if general:
            await self.db.copy_records("stage_ticks" if staged else "ticks", general, TICK_NAMES)

    async def _write_ticks(self, batch: RowBatch, after_copy: Callable[[], None] | None) -> int:
        """The batch's trades, all new straight into the table, else (some already loaded)
        through staging and ON CONFLICT DO NOTHING; their bar inputs staged. How many went in."""
        fast = batch.fast if batch.fast is not None and batch.fast.count else None
        try:
            async with self.db.transaction():  # a savepoint of the batch's transaction
                await self._send_ticks(batch, fast, staged=False)
                if after_copy is not None:
                    after_copy()
                    after_copy = None
                if fast is not None:
                    await self.db.copy_binary("stage_bar_ticks", fast.payloads()[1], BAR_TICK_NAMES)
                if batch.rows["ticks"]:
                    inputs = [_bar_input(row) for row in batch.rows["ticks"]]
                    await self.db.copy_records("stage_bar_ticks", inputs, BAR_TICK_NAMES)
            return batch.table_rows("ticks")
        except DuplicateObjectError as err:
            if err.sqlstate != UNIQUE_VIOLATION:
                raise
        await self._send_ticks(batch, fast, staged=True)
        if after_copy is not None:
            after_copy()
        return _count(await self.db.execute(SQL.INSERT_STAGED_TICKS))

    async def _isolate(
        self, batch: RowBatch, err: QueryError, stream: str | None
    ) -> dict[str, int]:
        """Write the batch table by table, splitting the rows of a table the server refuses
        until each refused row stands alone; those go to ``load_rejects``."""
        log.warning("a batch was refused (%s); isolating the refused rows", err)
        inserted: Counter[str] = Counter()
        if batch.fast is not None and batch.fast.count:  # rows the extension checked: no split
            inserted.update(await self._write_rows(RowBatch(fast=batch.fast)))
        for table in TABLES:
            if batch.rows[table]:
                inserted.update(await self._split(batch, table, batch.rows[table], stream))
        return dict(inserted)

    async def _split(
        self, batch: RowBatch, table: str, rows: list[R.Row], stream: str | None
    ) -> Counter[str]:
        try:
            async with self.db.transaction():
                part = RowBatch()  # only these rows of this table
                part.rows[table] = rows
                return Counter(await self._write_rows(part))
        except QueryError as err:
            if not _refused(err):
                raise
            if len(rows) > 1:
                half = len(rows) // 2
                counts = await self._split(batch, table, rows[:half], stream)
                counts.update(await self._split(batch, table, rows[half:], stream))
                return counts
            refused = Refused(table, rows[0], str(err)[:1000], err.sqlstate)
        batch.refused.append(refused)
        batch.rejected[f"refused_{table}"] += 1
        text = orjson.dumps(refused.row, default=str).decode()
        await self.db.execute(
            SQL.INSERT_REJECT, stream, table, refused.reason, refused.sqlstate, text
        )
        return Counter()
