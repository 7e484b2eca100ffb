"""Archive read throughput: complete lines (and parsed records) per second, plain and .zst.

Run: .venv/bin/python bench/bench_archive_read.py   (the loader needs > 100,000 lines/s)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_archive_write import scalp_record
from observer.archive.compress import compress_hour
from observer.archive.reader import ArchiveReader

N = 300_000
HOUR_NS = 3_600_000_000_000
START_NS = 1_767_571_200_000_000_000  # 2026-01-05 09:00 KST


def build(assets: Path) -> int:
    """Three hour files of N/3 records each; the first two compressed."""
    size = 0
    for hour in range(3):
        lines = []
        for i in range(N // 3):
            record = scalp_record(i, START_NS + hour * HOUR_NS + i)
            record.seq = hour * (N // 3) + i + 1
            lines.append(record.to_line())
        path = assets / f"scalp_20260105_{9 + hour:02d}.jsonl"
        path.write_bytes(b"".join(lines))
        size += path.stat().st_size
    for hour in range(2):
        compress_hour(assets / f"scalp_20260105_{9 + hour:02d}.jsonl")
    return size


def main() -> None:
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        assets = Path(tmp)
        size = build(assets)
        reader = ArchiveReader(assets)
        print(f"archive read benchmark: {N:,} lines ({size / 1e6:.0f} MB), 2 of 3 hours compressed")
        for label, run in (
            ("iter_lines", lambda: sum(1 for _ in reader.iter_lines("scalp"))),
            ("iter_records", lambda: sum(1 for _ in reader.iter_records("scalp"))),
        ):
            started = time.perf_counter()
            count = run()
            elapsed = time.perf_counter() - started
            assert count == N
            print(f"  {label:<13} {count / elapsed:>10,.0f} lines/s  ({elapsed:.2f} s)")


if __name__ == "__main__":
    main()
