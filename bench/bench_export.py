"""Export throughput and memory: rows/s and peak RSS of ``observer export`` style exports.

Builds a synthetic scalp archive (full H0STCNT0 records, half the hours compressed), then
exports a small and a large day range to Parquet and CSV, each in a fresh child process so
its peak RSS is its own. Streaming in record batches keeps the peak flat as the range grows.

    .venv/bin/python bench/bench_export.py [--rows 600000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from observer.archive.compress import compress_hour
from observer.clock import KST
from observer.pipeline.record import Record

DAYS = [date(2026, 1, 5) + timedelta(days=i) for i in range(4)]
HOURS = range(9, 16)


def trade_data(rng: random.Random, when: datetime, n: int) -> dict[str, object]:
    price = 70_000 + rng.randrange(-500, 500)
    return {
        "trade_time": when.strftime("%H%M%S"), "price": price, "change_sign": "2",
        "change": price - 69_500, "change_rate": round((price - 69_500) / 695, 2),
        "vwap": price + 0.5, "open": 69_800, "high": 70_600, "low": 69_400, "ask1": price + 100,
        "bid1": price, "trade_volume": rng.randrange(1, 500), "acc_volume": n * 13,
        "acc_value": n * 13 * price, "sell_count": n // 2, "buy_count": n - n // 2,
        "net_buy_count": n % 17, "strength": 101.5, "sell_volume": n * 6, "buy_volume": n * 7,
        "trade_side": "1", "buy_ratio": 53.8, "volume_ratio_prev_day": 87.1,
        "open_time": "090000", "open_vs_price_sign": "2", "open_vs_price": price - 69_800,
        "high_time": "093112", "high_vs_price_sign": "5", "high_vs_price": price - 70_600,
        "low_time": "091501", "low_vs_price_sign": "2", "low_vs_price": price - 69_400,
        "business_date": when.strftime("%Y%m%d"), "session_code": "20", "halted": False,
        "ask1_size": 1200, "bid1_size": 800, "total_ask_size": 51_000, "total_bid_size": 47_000,
        "turnover": 0.12, "prev_day_same_time_volume": 1_000_000,
        "prev_day_same_time_volume_rate": 95.2, "hour_class": "0",
        "market_treatment_class": "0", "vi_base_price": 69_900, "trade_ts": when.isoformat(),
    }  # fmt: skip


def build(assets: Path, rows: int) -> None:
    rng = random.Random(7)
    assets.mkdir(parents=True)
    per_hour = rows // (len(DAYS) * len(HOURS))
    symbols = [f"{i:06d}" for i in range(5930, 5930 + 41)]
    seq = 0
    for d_i, day in enumerate(DAYS):
        for hour in HOURS:
            start = datetime(day.year, day.month, day.day, hour, tzinfo=KST)
            path = assets / f"scalp_{day:%Y%m%d}_{hour:02d}.jsonl"
            with path.open("wb") as fh:
                for n in range(per_hour):
                    seq += 1
                    when = start + timedelta(microseconds=n * 3_600_000_000 // per_hour)
                    record = Record("scalp", "sim", "H0STCNT0", symbols[n % len(symbols)],
                                    trade_data(rng, when, n), int(when.timestamp() * 1e9),
                                    raw="0" * 300, seq=seq)  # fmt: skip
                    fh.write(record.to_line())
            if d_i % 2 == 0:
                compress_hour(path)


def child(assets: str, first: str, last: str, fmt: str, out: str) -> None:
    from observer.ops.export import ExportJob

    start = time.perf_counter()
    job = ExportJob(
        Path(assets), "scalp", date.fromisoformat(first), date.fromisoformat(last), None, fmt,
        Path(out),
    )  # fmt: skip
    summary = job.run()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": summary.rows, "seconds": seconds, "peak_kb": peak_kb,
                      "bytes": summary.bytes_written}))  # fmt: skip


def run_child(assets: Path, first: date, last: date, fmt: str, out: Path) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", str(assets), first.isoformat(), last.isoformat()]
    done = subprocess.run([*args, fmt, str(out)], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--child", nargs=5)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        assets = Path(tmp) / "assets"
        t0 = time.perf_counter()
        build(assets, args.rows)
        size = sum(p.stat().st_size for p in assets.iterdir()) / 1e6
        print(f"archive: {args.rows:,} scalp records, {size:.0f} MB on disk "
              f"(half compressed), built in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        print(f"{'range':<8} {'format':<8} {'rows':>9} {'seconds':>8} {'rows/s':>9} "
              f"{'peak RSS':>9} {'output':>8}")  # fmt: skip
        for label, last in (("1 day", DAYS[0]), ("4 days", DAYS[-1])):
            for fmt in ("parquet", "csv"):
                r = run_child(assets, DAYS[0], last, fmt, Path(tmp) / f"out.{fmt}")
                print(f"{label:<8} {fmt:<8} {int(r['rows']):>9,} {r['seconds']:>8.2f} "
                      f"{r['rows'] / r['seconds']:>9,.0f} {r['peak_kb'] / 1024:>6.0f} MB "
                      f"{r['bytes'] / 1e6:>5.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
