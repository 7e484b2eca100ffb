"""The archive writer: group commit of records into hourly JSONL files, fsync before ack.

One writer task takes up to ``batch_max`` waiting records, assigns each its per-stream ``seq``,
serialises it, appends every file's lines and fsyncs them in a worker thread, and only then
resolves the futures handed out by :meth:`ArchiveWriter.submit`. Records that arrive while a
commit is in flight form the next batch (group commit), so a record waits at most one commit
plus its own; when idle the writer wakes every ``fsync_ms`` to rotate files by the clock.

File routing: a record goes to the file of its KST receive hour, but never into an hour before
the clock's current hour or before a newer file of its stream (a straggler goes into the current
file). So ``seq`` order equals file order, and a closed hour is never written again and can be
handed to the compressor safely. A file of an hour still to come (left by a run whose clock was
ahead) does not move the floor: records always go to the file of their own hour, unless that
hour is already compressed (a clock set back): a closed hour is never opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from observer.archive.batch import Entry, Group, group_batch
from observer.archive.compress import CompressionWorker
from observer.archive.exceptions import ArchiveError, ArchiveNotAccepting, ArchiveWriteError
from observer.archive.paths import hour_index, parse_name, plain_name
from observer.archive.recovery import RecoveryReport, recover
from observer.archive.refusals import REFUSED_REASON, RefusalLedger
from observer.archive.segment import Segment, probe_directory
from observer.clock import Clock, kst_iso
from observer.metrics import Metrics
from observer.pipeline.record import STREAMS, Record

log = logging.getLogger(__name__)
CLOSED_HOURS_SCAN = 24 * 31  # how far past compressed hours a set-back clock is moved
REFUSAL_RETRY_SECONDS = 1.0  # while writes fail, try the gap record (a real write) this often


class ArchiveWriter:
    """Durable, ordered, back-pressured append of records to the hourly archive files."""

    def __init__(
        self,
        assets_dir: Path,
        clock: Clock,
        metrics: Metrics,
        *,
        fsync_ms: int = 50,
        batch_max: int = 4096,
        queue_max: int = 100_000,
    ) -> None:
        if batch_max < 1 or queue_max < 1 or fsync_ms < 1:
            raise ValueError("fsync_ms, batch_max and queue_max must be >= 1")
        self.assets_dir = Path(assets_dir)
        self._clock = clock
        self._metrics = metrics
        self._tick = fsync_ms / 1000
        self._batch_max = batch_max
        self._queue_max = queue_max
        self._queue: deque[Entry] = deque()
        self._depth = 0  # records waiting in _queue (bounded by queue_max)
        self._work = asyncio.Event()
        self._space = asyncio.Event()
        self._next_seq: dict[str, int] = dict.fromkeys(STREAMS, 1)
        # the lowest KST hour index each stream may still write into
        self._floor: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._segments: dict[str, Segment] = {}  # stream -> its open file
        self._received: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._received_pushed: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._stored: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._last_ns: dict[str, int] = {}
        self._rate: dict[str, tuple[float, int, float]] = {}  # stream -> (t, stored, rate)
        self._accepting = False
        self._pause_reason: str | None = "not started"
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._compressor = CompressionWorker(self.assets_dir, metrics)
        self._compress_before = 0
        self.report = RecoveryReport()
        self.refusals = RefusalLedger()
        self._next_gap_try = 0.0
        # called on every failed write (the disk guard checks at once, not on its timer)
        self.on_write_error: Callable[[], None] | None = None
        # gets each record that cannot become an archive line (the service quarantines it)
        self.on_unencodable: Callable[[Record, str], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> RecoveryReport:
        """Recover the archive (torn tails, last seq), then accept records."""
        if self._task is not None:
            return self.report
        try:
            self.assets_dir.mkdir(parents=True, exist_ok=True)
            self.report = await asyncio.to_thread(recover, self.assets_dir, self._metrics)
        except OSError as exc:
            raise ArchiveError(f"archive recovery in {self.assets_dir} failed: {exc}") from exc
        now_h = hour_index(self._clock.now_ns())
        for stream, seq in self.report.last_seq.items():
            if stream in self._next_seq:
                self._next_seq[stream] = seq + 1
        for stream, newest in self.report.newest.items():
            parsed = parse_name(newest)
            if parsed is not None and parsed.index > now_h:
                # written by a run whose clock was ahead: records still go to their own hour
                log.warning("archive: %s is of an hour still to come; left alone", newest)
                continue
            if parsed is not None and stream in self._floor:
                zst_exists = (self.assets_dir / parsed.zst).exists()
                self._floor[stream] = parsed.index + 1 if zst_exists else parsed.index
        for stream in self._floor:
            floor = max(self._floor[stream], now_h)
            # a clock set back into hours already compressed: closed hours stay closed
            for _ in range(CLOSED_HOURS_SCAN):
                if not (self.assets_dir / (plain_name(stream, floor) + ".zst")).exists():
                    break
                floor += 1
            self._floor[stream] = floor
        self._compress_before = now_h
        self._compressor.start(now_h)
        # a thread of its own: a busy default executor must never delay an fsync
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="archive-writer")
        self._task = asyncio.create_task(self._run(), name="archive-writer")
        # read at scrape time, so a writer stuck in a slow fsync still shows its queue growing
        self._metrics.queue_depth.set_function(lambda: self._depth)
        self._accepting, self._pause_reason = True, None
        self._metrics.archive_accepting.set(1)
        return self.report

    async def close(self) -> None:
        """Stop accepting, write and fsync everything queued, close files; idempotent."""
        self._closing = True
        self._accepting, self._pause_reason = False, "closed"
        self._metrics.archive_accepting.set(0)
        self._work.set()
        self._space.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # a bug in the writer task: report it, still close the files
                log.exception("archive: the writer task ended with an error")
        for segment in self._segments.values():
            segment.close()
        self._segments.clear()
        await self._compressor.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # idle: the writer task has ended
            self._executor = None

    def pause(self, reason: str) -> None:
        """Refuse new records (disk guard); records already queued are still written."""
        if self._closing:
            return
        self._accepting, self._pause_reason = False, reason
        self._metrics.archive_accepting.set(0)
        self._space.set()  # let waiting submitters see the pause
        log.warning("archive paused: %s", reason)

    def resume(self) -> None:
        """Accept records again after :meth:`pause`."""
        if self._closing or self._task is None or self._accepting:
            return
        self._accepting, self._pause_reason = True, None
        self._metrics.archive_accepting.set(1)
        log.info("archive resumed")

    @property
    def accepting(self) -> bool:
        """True while :meth:`submit` takes records."""
        return self._accepting

    # -- input -----------------------------------------------------------------------------

    async def submit(self, record: Record) -> asyncio.Future[int]:
        """Queue one record (waiting for space); the future gives its seq once fsync'd."""
        if not self._accepting or self._depth >= self._queue_max:
            await self._wait_space(1)
        try:
            self._received[record.stream] += 1
        except KeyError:
            raise ArchiveError(f"unknown stream {record.stream!r}") from None
        future: asyncio.Future[int] = asyncio.Future()  # the running loop; cheapest way
        self._queue.append((record, future, time.perf_counter()))
        self._depth += 1
        self._work.set()
        return future

    async def submit_many(self, records: Sequence[Record]) -> asyncio.Future[int]:
        """Queue records as one entry; the future gives the last seq once all are fsync'd."""
        batch = list(records)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if not batch:
            future.set_result(0)
            return future
        await self._wait_space(len(batch))
        for record in batch:
            if record.stream not in self._received:
                raise ArchiveError(f"unknown stream {record.stream!r}")
        for record in batch:
            self._received[record.stream] += 1
        self._queue.append((batch, future, time.perf_counter()))
        self._depth += len(batch)
        self._work.set()
        return future

    async def _wait_space(self, n: int) -> None:
        while True:
            if not self._accepting:
                raise ArchiveNotAccepting(self._pause_reason or "not accepting")
            if self._depth == 0 or self._depth + n <= self._queue_max:
                return
            self._space.clear()
            await self._space.wait()

    # -- the writer task -------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            if self._queue:  # only after an unexpected error: nobody may wait forever
                self._accepting, self._pause_reason = False, "archive writer stopped"
                self._metrics.archive_accepting.set(0)
                self._fail(
                    self._take_batch(len(self._queue) + self._depth), ArchiveError("stopped")
                )

    async def _loop(self) -> None:
        while True:
            if self.refusals.waiting and time.monotonic() >= self._next_gap_try:
                self._queue_refusal_gaps()
            if not self._queue:
                self._rotate()
                if self._closing:
                    return
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._tick):
                        await self._work.wait()
                continue
            batch = self._take_batch(self._batch_max)
            try:
                await self._commit(batch)
            except Exception as exc:  # a bug must not strand the submitters
                log.exception("archive: commit failed unexpectedly")
                self._fail(batch, ArchiveError(f"archive commit failed: {exc}"))
            self._rotate()

    def _take_batch(self, limit: int) -> list[Entry]:
        batch: list[Entry] = []
        taken = 0
        queue = self._queue
        while queue and taken < limit:
            entry = queue.popleft()
            batch.append(entry)
            item = entry[0]
            taken += len(item) if isinstance(item, list) else 1
        self._depth -= taken
        self._space.set()
        return batch

    def _write(self, groups: list[Group]) -> tuple[int, ArchiveWriteError | None]:
        """Blocking: append + fsync each group in order; stop at the first failure."""
        for i, group in enumerate(groups):
            if not group.count:
                continue
            segment = self._segments.get(group.stream)
            if segment is None or segment.index != group.index:
                if segment is not None:
                    segment.close()
                segment = Segment(
                    self.assets_dir,
                    group.stream,
                    group.index,
                    plain_name(group.stream, group.index),
                )
                self._segments[group.stream] = segment
            try:
                segment.append(group.data)
            except ArchiveWriteError as exc:
                return i, exc
        return len(groups), None

    async def _commit(self, batch: list[Entry]) -> None:
        floor_before = dict(self._floor)
        unencodable: list[tuple[Record, str]] = []
        groups, marks = group_batch(batch, self._floor, self._next_seq, unencodable)
        for record, reason in unencodable:
            self._reject(record, reason)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        done, error = await loop.run_in_executor(self._executor, self._write, groups)
        finished = time.perf_counter()
        self._metrics.fsync_seconds.observe(finished - started)
        if error is not None:
            self._roll_back(groups[done:], floor_before, groups[:done])
            self._note_refused(batch, marks, done, error)
        if self.refusals.waiting and done:
            for group in groups[:done]:
                self.refusals.accepted(group.stream)
            self._next_gap_try = 0.0  # the archive accepts again: record refusals at once
        self._account(groups[:done])
        observe = self._metrics.ack_seconds.observe
        acked_at = time.perf_counter()
        for (item, future, enqueued), mark in zip(batch, marks, strict=True):
            if future.done():
                continue
            if isinstance(mark, Exception):
                future.set_exception(mark)
            elif mark < done:
                future.set_result(item[-1].seq if isinstance(item, list) else item.seq)
                observe(acked_at - enqueued)
            else:
                future.set_exception(error or ArchiveError("record not written"))

    def _note_refused(
        self, batch: list[Entry], marks: list[int | Exception], done: int, error: Exception
    ) -> None:
        """Count the records of failed groups for their archive_refused gap; alert the guard."""
        now_ns = self._clock.now_ns()
        refused = 0
        for (item, _future, _t), mark in zip(batch, marks, strict=True):
            if isinstance(mark, Exception) or mark < done:
                continue
            for record in item if isinstance(item, list) else (item,):
                if self.refusals.is_gap(record):
                    continue  # its refusals stay open and are retried
                self.refusals.note(record, str(error), now_ns)
                self._metrics.archive_refused.labels(record.stream).inc()
                refused += 1
        self._metrics.archive_refusing.set(1)
        self._next_gap_try = time.monotonic() + REFUSAL_RETRY_SECONDS
        self.refusals.log_failure(refused, error)
        if self.on_write_error is not None:
            self.on_write_error()

    def _reject(self, record: Record, reason: str) -> None:
        if self.on_unencodable is not None:
            self.on_unencodable(record, reason)
        else:
            log.error("archive: a %s record cannot be encoded: %s", record.stream, reason)

    def _queue_refusal_gaps(self) -> None:
        """Put the archive_refused gap records first in line (they are the next write)."""
        gaps = self.refusals.gap_records(self._clock.now_ns())
        if not gaps:
            return
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: self._gaps_settled(gaps, f))
        for gap in gaps:
            self._received[gap.stream] += 1
        self._queue.appendleft((gaps, future, time.perf_counter()))
        self._depth += len(gaps)
        self._next_gap_try = time.monotonic() + REFUSAL_RETRY_SECONDS

    def _gaps_settled(self, gaps: list[Record], future: asyncio.Future[int]) -> None:
        written = not future.cancelled() and future.exception() is None
        for gap in gaps:
            if self.refusals.settled(gap, written):
                self._metrics.gaps.labels(REFUSED_REASON).inc()
        if not self.refusals.refusing:
            self._metrics.archive_refusing.set(0)

    def _roll_back(
        self, failed: list[Group], floor_before: dict[str, int], kept: list[Group]
    ) -> None:
        """Give back the seqs and hours of groups that were not written."""
        for group in failed:
            if group.count and group.first_seq < self._next_seq[group.stream]:
                self._next_seq[group.stream] = group.first_seq
            self._floor[group.stream] = floor_before[group.stream]
        for group in kept:
            self._floor[group.stream] = max(self._floor[group.stream], group.index)

    def _account(self, groups: list[Group]) -> None:
        m = self._metrics
        for stream, total in self._received.items():
            if total != self._received_pushed[stream]:
                m.records_received.labels(stream).inc(total - self._received_pushed[stream])
                self._received_pushed[stream] = total
        for group in groups:
            if not group.count:
                continue
            stream = group.stream
            self._stored[stream] += group.count
            m.records_stored.labels(stream).inc(group.count)
            m.archive_bytes.labels(stream).inc(len(group.data))
            if group.last_ns > self._last_ns.get(stream, 0):
                self._last_ns[stream] = group.last_ns
                m.last_record_time.labels(stream).set(group.last_ns / 1e9)

    def _fail(self, batch: list[Entry], error: Exception) -> None:
        for _item, future, _t in batch:
            if not future.done():
                future.set_exception(error)

    def _rotate(self) -> None:
        """Close files of hours the clock has left and hand them to the compressor."""
        now_h = hour_index(self._clock.now_ns())
        for stream, floor in self._floor.items():
            if floor < now_h:
                self._floor[stream] = now_h
        for stream, segment in list(self._segments.items()):
            if segment.index < self._floor[stream]:
                segment.close()
                del self._segments[stream]
        if now_h > self._compress_before:  # no file before now_h is (or will be) open again
            self._compress_before = now_h
            self._compressor.request(now_h)

    # -- observation -----------------------------------------------------------------------

    async def wait_compressed(self) -> None:
        """Wait until every closed hour handed to the compressor is done (tests, shutdown)."""
        await self._compressor.wait_idle()

    def probe_writable(self) -> str | None:
        """Create, write, fsync and remove a small file in assets_dir; an error text or None."""
        return probe_directory(self.assets_dir)

    def stats(self) -> dict[str, Any]:
        """The ``streams`` and ``archive`` sections of /status."""
        streams: dict[str, Any] = {}
        now = time.monotonic()
        for stream in STREAMS:
            last_ns = self._last_ns.get(stream)
            segment = self._segments.get(stream)
            streams[stream] = {
                "received": self._received[stream],
                "stored": self._stored[stream],
                "last_record_ts": kst_iso(last_ns) if last_ns else None,
                "current_file": segment.name if segment else None,
                "records_per_second": self._records_per_second(stream, now),
            }
        segments = list(self._segments.values())  # the writer thread may change the dict
        files = [{"name": s.name, "bytes": s.size} for s in segments]
        return {
            "streams": streams,
            "archive": {
                "queue_depth": self._depth,
                "accepting": self._accepting,
                "pause_reason": self._pause_reason,
                "files": files,
                "recovered_truncations": len(self.report.truncations),
                "refusing": self.refusals.refusing,
                "next_seq": dict(self._next_seq),
                "compression": self._compressor.status(),
            },
        }

    def _records_per_second(self, stream: str, now: float) -> float:
        stored = self._stored[stream]
        t0, stored0, rate = self._rate.get(stream, (now, stored, 0.0))
        if now - t0 >= 1.0:
            rate = (stored - stored0) / (now - t0)
            t0, stored0 = now, stored
        self._rate[stream] = (t0, stored0, rate)
        return round(rate, 1)
