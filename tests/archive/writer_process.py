"""A writer process for the crash tests (run as a script, never imported by pytest).

``writer_process.py ASSETS stream``: submit records to the scalp and system streams forever,
printing ``<stream> <seq>`` for each acknowledged record as soon as it is acknowledged.

``writer_process.py ASSETS fsize LIMIT``: with RLIMIT_FSIZE at LIMIT bytes, submit batches until
one fails, then lift the limit and submit one more; prints a JSON summary.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from datetime import datetime
from pathlib import Path

import orjson

from observer.archive.exceptions import ArchiveWriteError
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, Clock, ManualClock
from observer.metrics import Metrics
from observer.pipeline.record import Record

PAYLOAD = "x" * 1500  # long lines make a torn tail at the kill likely


def record(stream: str, i: int, recv_ns: int) -> Record:
    tr_id = "H0STCNT0" if stream == "scalp" else "SYSTEM"
    return Record(stream, "sim", tr_id, "005930", {"i": i, "pad": PAYLOAD}, recv_ns, raw=f"{i}")  # type: ignore[arg-type]


async def stream_forever(assets: Path) -> None:
    clock = Clock()
    writer = ArchiveWriter(assets, clock, Metrics(), fsync_ms=5, batch_max=32, queue_max=512)
    await writer.start()
    os.write(1, b"started\n")
    i = 0
    while True:
        stream = "system" if i % 4 == 0 else "scalp"
        future = await writer.submit(record(stream, i, clock.now_ns()))
        future.add_done_callback(
            lambda f, s=stream: (
                f.exception() is None and os.write(1, f"{s} {f.result()}\n".encode())
            )
        )
        i += 1
        if i % 16 == 0:
            await asyncio.sleep(0)


async def fill_to_limit(assets: Path, limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    clock = ManualClock(datetime(2026, 1, 5, 9, 30, tzinfo=KST))  # one hour, one file
    writer = ArchiveWriter(assets, clock, Metrics())
    await writer.start()
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    acked, errno = 0, None
    for i in range(0, 10_000, 7):
        batch = [record("scalp", i + k, clock.now_ns()) for k in range(7)]
        try:
            acked = await (await writer.submit_many(batch))
        except ArchiveWriteError as exc:
            errno = exc.errno
            break
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    after = await (await writer.submit(record("scalp", -1, clock.now_ns())))
    await writer.close()
    print(orjson.dumps({"acked": acked, "errno": errno, "after": after}).decode(), flush=True)


def main() -> None:
    assets, mode = Path(sys.argv[1]), sys.argv[2]
    if mode == "stream":
        asyncio.run(stream_forever(assets))
    else:
        asyncio.run(fill_to_limit(assets, int(sys.argv[3])))


if __name__ == "__main__":
    main()
