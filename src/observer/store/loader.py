"""The archive loader: tails every archive stream into PostgreSQL, exactly once.

For each stream the loader reads complete lines with the resumable archive reader from the
checkpoint stored in ``load_checkpoints``, turns them into rows, and writes each batch and the
new checkpoint in ONE transaction (:class:`~observer.store.batch.BatchWriter`). A SIGKILL at
any point leaves either the whole batch with its checkpoint or neither; on the next run the
batch is read again, and ``ON CONFLICT DO NOTHING`` keeps even a replay of committed rows
harmless. Batches close at ``loader_batch_rows`` records or ``loader_batch_ms``, whichever
comes first, or at the end of the available lines.

``run_once()`` catches up and returns the counts; ``run_forever()`` follows the archive,
reconnecting with a capped, jittered backoff while PostgreSQL is away (the archive keeps
everything meanwhile, the loader just falls behind and catches up).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from observer.archive.files import newest_head
from observer.archive.reader import ArchiveReader, Position
from observer.backoff import Backoff
from observer.clock import NS_PER_S, Clock
from observer.config.settings import Settings
from observer.metrics import Metrics
from observer.pipeline.record import STREAMS
from observer.store.batch import BatchWriter, Checkpoint, RowBatch, connect_writer
from observer.store.connection import Database
from observer.store.exceptions import DatabaseUnavailableError, StoreError
from observer.store.feed import LineFeed
from observer.store.inspect import read_checkpoints
from observer.store.migrations import migrate
from observer.store.tickcopy import fast_path_active
from observer.store.universe import SnapshotTracker

log = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
IDLE_POLL_SECONDS = 0.05
LAG_CHECK_SECONDS = 1.0
QUIET_SECONDS = 1.0  # longest a stream is skipped on "nothing changed" alone
BATCHES_PER_TURN = 8  # batches of one stream before the others get their turn


@dataclass(eq=False, repr=False)
class ArchiveLoader:
    """Loads the archive into PostgreSQL from per-stream checkpoints (catch-up and follow)."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    reader: ArchiveReader
    _: KW_ONLY
    streams: tuple[str, ...] = STREAMS
    backoff_initial: InitVar[float] = BACKOFF_INITIAL_SECONDS
    backoff_max: InitVar[float] = BACKOFF_MAX_SECONDS
    poll_seconds: float = IDLE_POLL_SECONDS
    auto_migrate: bool = True
    rows: Counter[str] = field(init=False, default_factory=Counter)
    rejected: Counter[str] = field(init=False, default_factory=Counter)
    lag_records: dict[str, int] = field(init=False, default_factory=dict)
    lag_seconds: float | None = field(init=False, default=None)
    db_up: bool = field(init=False, default=False)
    last_error: str | None = field(init=False, default=None)
    _db: Database | None = field(init=False, default=None)
    _writer: BatchWriter | None = field(init=False, default=None)
    _checkpoints: dict[str, Checkpoint] = field(init=False, default_factory=dict)
    _lag_checked: float = field(init=False, default=0.0)
    _quiet_keys: dict[str, tuple[tuple[int, int], float]] = field(init=False, default_factory=dict)
    _stopping: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self, backoff_initial: float, backoff_max: float) -> None:
        self._backoff = Backoff(backoff_initial, backoff_max, self.clock)
        self._snapshots = SnapshotTracker(self.settings.snapshot_dir)

    # -- public ---------------------------------------------------------------------------
    async def run_once(self) -> dict[str, int]:
        """Load everything archived so far and return rows inserted per table."""
        before = Counter(self.rows)
        try:
            await self._connect()
            while await self._cycle():
                pass
            await self._cycle(refresh=True)
        finally:
            await self._disconnect()
        return dict(self.rows - before)

    async def run_forever(self) -> None:
        """Follow the archive until ``stop()``; never raises for database trouble."""
        lag = asyncio.create_task(self._watch_lag())
        try:
            while not self._stopping.is_set():
                try:
                    if self._db is None:
                        await self._connect()
                    busy = await self._cycle()
                    self._backoff.reset()
                    if not busy:  # poll_seconds of real time, whatever the clock speed
                        await self.clock.wait_for_event(
                            self._stopping, self.poll_seconds * self.clock.speed
                        )
                except StoreError as err:
                    await self._on_error(err)
                except Exception as exc:  # the follower must outlive any one bad batch
                    log.exception("loader: unexpected error")
                    await self._on_error(StoreError(f"unexpected {type(exc).__name__}: {exc}"))
        finally:
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
            await self._disconnect()

    def stop(self) -> None:
        """Ask ``run_forever`` to return after the current batch."""
        self._stopping.set()

    def status(self) -> dict[str, Any]:
        """The ``loader`` section of ``/status``."""
        return {
            "loader": {
                "enabled": self.settings.loader_enabled,
                "db_up": self.db_up,
                "lag_records": dict(self.lag_records),
                "lag_seconds": self.lag_seconds,
                "rows": dict(self.rows),
                "rejected": dict(self.rejected),
                "last_error": self.last_error,
            }
        }

    # -- connection -----------------------------------------------------------------------
    async def _connect(self) -> None:
        if self.auto_migrate:
            await migrate(self.settings)
        db = await connect_writer(self.settings, "observer-loader")
        try:
            checkpoints = await read_checkpoints(db)
        except StoreError:
            await db.close()
            raise
        self._db = db
        self._writer = BatchWriter(db)
        self._checkpoints = checkpoints
        self._snapshots.loaded.clear()  # offer every snapshot again on the new connection
        self._quiet_keys.clear()
        self._set_db_up(True)
        log.info(
            "loader connected to %s (trade fast path %s)",
            self.settings.db_dsn_redacted,
            "active" if fast_path_active() else "off",
        )

    async def _disconnect(self) -> None:
        db, self._db, self._writer = self._db, None, None
        if db is not None:
            await db.close()

    def _set_db_up(self, up: bool) -> None:
        self.db_up = up
        self.metrics.db_up.set(1 if up else 0)

    async def _on_error(self, err: StoreError) -> None:
        self.metrics.loader_errors.inc()
        self.last_error = str(err)
        if isinstance(err, DatabaseUnavailableError):
            self._set_db_up(False)
        await self._disconnect()
        log.warning("loader: %s; backing off", err)
        delay = await self._backoff.wait(stop=self._stopping)
        if not self._stopping.is_set():
            log.info("loader: retrying after %.1f s", delay)

    # -- loading --------------------------------------------------------------------------
    async def _cycle(self, *, refresh: bool = False) -> bool:
        """One pass over every stream; True when a batch was cut short (more is waiting).

        Streams whose archive did not change since they were last read to the end are not
        listed again; snapshots are looked at (and an idle connection checked) once a second,
        or when ``refresh``.
        """
        busy = False
        for stream in self.streams:
            if not self._quiet(stream):
                busy |= await self._drain(stream)
        now = time.monotonic()
        if refresh or now - self._lag_checked >= LAG_CHECK_SECONDS:
            self._lag_checked = now
            if not busy and self._db is not None:  # idle: still notice a database gone away
                await self._db.fetchval("SELECT 1")
            await self._load_snapshots()
            if refresh:
                await asyncio.to_thread(self._update_lag)
        self.last_error = None
        return busy

    async def _drain(self, stream: str) -> bool:
        """Load ``stream`` up to the end of its complete lines, or BATCHES_PER_TURN batches.

        The next batch is read and parsed in a worker thread while the server merges the
        current one (started once its COPY is done, so the two never fight over the GIL).
        """
        writer = self._writer
        assert writer is not None  # noqa: S101 - connected by the caller
        before = self._archive_key(stream)
        self._quiet_keys.pop(stream, None)
        checkpoint = self._checkpoints.get(stream)
        start = Position(checkpoint.file, checkpoint.offset) if checkpoint is not None else None
        feed = LineFeed(self.reader.iter_chunks(stream, start))
        reading: asyncio.Future[tuple[RowBatch, Position | None, bool]] | None = None
        more = True

        def read_next() -> None:
            nonlocal reading
            if reading is None and more:
                reading = asyncio.ensure_future(asyncio.to_thread(self._collect, feed))

        try:
            read_next()
            for turn in range(BATCHES_PER_TURN):
                assert reading is not None  # noqa: S101 - started before each turn
                batch, position, exhausted = await reading
                reading = None
                more = not exhausted and turn + 1 < BATCHES_PER_TURN
                if batch.fast is not None:
                    # Copied trades cost the event loop almost nothing to send: parse the next
                    # batch while the server writes this one.
                    read_next()
                if position is not None:
                    checkpoint = self._next_checkpoint(stream, batch, position)
                    counts = await writer.write(batch, checkpoint, after_copy=read_next)
                    self._committed(batch, checkpoint, counts)
                if exhausted:
                    self._quiet_keys[stream] = (before, time.monotonic())
                    return False
                read_next()
            return True
        finally:
            if reading is not None:  # a failed write: let the reader thread finish, drop it
                await asyncio.wait([reading])
                if not reading.cancelled():
                    reading.exception()
            feed.close()

    def _collect(self, feed: LineFeed) -> tuple[RowBatch, Position | None, bool]:
        """Read up to one batch of lines (runs in a worker thread): the batch, the position
        after its last line (None when there was no line), and whether the lines ran out."""
        batch = RowBatch()
        deadline = time.monotonic() + self.settings.loader_batch_ms / 1000
        limit = self.settings.loader_batch_rows
        position, exhausted = feed.fill(batch, limit, deadline, RowBatch.parse_and_add)
        return batch, position, exhausted

    def _next_checkpoint(self, stream: str, batch: RowBatch, position: Position) -> Checkpoint:
        """The stream's checkpoint once ``batch`` is loaded (seq and receive time carried over
        when the batch has none)."""
        last = self._checkpoints.get(stream) or Checkpoint(stream)
        last_seq = last.last_seq if batch.last_seq is None else batch.last_seq
        last_recv = last.last_recv_ns if batch.last_recv_ns is None else batch.last_recv_ns
        return Checkpoint(stream, position.file, position.offset, last_seq, last_recv)

    def _count_rows(self, counts: dict[str, int]) -> None:
        for table, count in counts.items():
            if count:
                self.rows[table] += count
                self.metrics.loader_rows.labels(table=table).inc(count)

    def _committed(self, batch: RowBatch, checkpoint: Checkpoint, counts: dict[str, int]) -> None:
        self._checkpoints[checkpoint.stream] = checkpoint
        self._count_rows(counts)
        self.rejected.update(batch.rejected)
        if batch.rejected:
            self.metrics.loader_rejected.inc(sum(batch.rejected.values()))
            log.warning("loader rejected %s in %s", dict(batch.rejected), checkpoint.stream)

    async def _load_snapshots(self) -> None:
        writer = self._writer
        assert writer is not None  # noqa: S101 - connected by the caller
        pending = await asyncio.to_thread(self._snapshots.pending)
        for name, key, batch in pending:
            self._count_rows(await writer.write(batch))
            self._snapshots.loaded[name] = key

    def _archive_key(self, stream: str) -> tuple[int, int]:
        """(assets dir mtime, size of the stream's current file): changes when anything
        is appended to that file or any file is created, renamed or removed."""
        assets = self.settings.assets_dir
        try:
            dir_mtime = os.stat(assets).st_mtime_ns
        except OSError:
            return (-1, -1)
        checkpoint = self._checkpoints.get(stream)
        if checkpoint is None:
            return (dir_mtime, -1)
        try:
            return (dir_mtime, os.stat(assets / checkpoint.file).st_size)
        except OSError:
            return (dir_mtime, -2)

    def _quiet(self, stream: str) -> bool:
        """True when the stream was read to its end less than a second ago and nothing
        changed since (a full look at least once a second covers coarse mtimes)."""
        quiet = self._quiet_keys.get(stream)
        if quiet is None or time.monotonic() - quiet[1] >= QUIET_SECONDS:
            return False
        key, _ = quiet
        return key[0] >= 0 and key == self._archive_key(stream)

    def _update_lag(self) -> None:
        """Records and seconds behind the archive head: per stream the newest archived
        record (read from the tail of its newest file) against the newest loaded one; the
        seconds are the largest difference of their receive times, 0 when caught up."""
        behind_ns = 0
        for stream in self.streams:
            head = None if self._quiet(stream) else newest_head(self.settings.assets_dir, stream)
            checkpoint = self._checkpoints.get(stream) or Checkpoint(stream)
            lag = 0 if head is None else max(0, head[0] - (checkpoint.last_seq or 0))
            self.lag_records[stream] = lag
            self.metrics.loader_lag_records.labels(stream=stream).set(lag)
            head_ns, loaded_ns = (head[1] if head else None), checkpoint.last_recv_ns
            if lag and head_ns is not None and loaded_ns is not None:
                behind_ns = max(behind_ns, head_ns - loaded_ns)
        self.lag_seconds = behind_ns / NS_PER_S
        self.metrics.loader_lag_seconds.set(self.lag_seconds)

    async def _watch_lag(self) -> None:
        """Refresh the lag figures every LAG_CHECK_SECONDS whatever the database does (a
        statement waiting on a partitioned network, a backoff), so they keep growing."""
        while True:
            await asyncio.to_thread(self._update_lag)
            await asyncio.sleep(LAG_CHECK_SECONDS)
