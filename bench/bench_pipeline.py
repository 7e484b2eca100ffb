"""Pipeline throughput: validate -> guard -> enrich -> gap check over H0STCNT0 trades.

Prints records/s for the pipeline alone (the share it takes of the >= 50,000 records/s end to
end budget), for swing quotes, and for parse + pipeline + archive line serialisation (no disk)
when the frame parser is available.

    .venv/bin/python bench/bench_pipeline.py
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from observer.clock import NS_PER_S
from observer.config.settings import settings_for_tests
from observer.market.calendar import MarketCalendar
from observer.metrics import Metrics
from observer.pipeline.guard import SymbolProfile
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record
from observer.pipeline.ticks import midnight_ns, tick_size

N_TRADES = 400_000
N_SYMBOLS = 41
REPEATS = 3
BATCH = 64  # records per call, about what one burst of frames carries
DAY = "20260105"
T0_S = 9 * 3600


def symbols() -> list[str]:
    return [f"{100000 + i * 7:06d}" for i in range(N_SYMBOLS)]


def trade_fields(rng: random.Random, n: int) -> list[tuple[str, str, int, int, int, int]]:
    """(symbol, time, price, volume, acc_volume, count) per trade; ~0.1 % missed trades."""
    state = {s: [rng.choice([5_000, 20_000, 70_000, 250_000]), 0, 0] for s in symbols()}
    names = list(state)
    out = []
    for i in range(n):
        symbol = names[rng.randrange(N_SYMBOLS)]
        entry = state[symbol]
        tick = tick_size(entry[0])
        entry[0] = max(tick, entry[0] + tick * rng.choice((-1, 0, 0, 1)))
        volume = rng.randint(1, 500)
        entry[1] += volume
        entry[2] += 1
        if rng.random() < 0.001:  # a trade the stream never delivered
            entry[1] += rng.randint(1, 500)
            entry[2] += 1
        second = T0_S + i * 20_000 // n
        hhmmss = f"{second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}"
        out.append((symbol, hhmmss, entry[0], volume, entry[1], entry[2]))
    return out


def make_records(fields: list[tuple[str, str, int, int, int, int]]) -> list[Record]:
    base = midnight_ns(date(2026, 1, 5))
    records = []
    for symbol, hhmmss, price, volume, acc, count in fields:
        second = int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + int(hhmmss[4:])
        data: dict[str, Any] = {
            "trade_time": hhmmss,
            "price": price,
            "trade_volume": volume,
            "acc_volume": acc,
            "sell_count": count // 2,
            "buy_count": count - count // 2,
            "business_date": DAY,
        }
        recv = base + second * NS_PER_S + 200_000_000
        records.append(Record("scalp", "sim", "H0STCNT0", symbol, data, recv, raw=""))
    return records


def frame_texts(fields: list[tuple[str, str, int, int, int, int]]) -> list[tuple[str, int]]:
    """H0STCNT0 frames of 4 records each (46 fields per record)."""
    base = midnight_ns(date(2026, 1, 5))
    frames = []
    for start in range(0, len(fields), 4):
        chunk = fields[start : start + 4]
        parts = []
        for symbol, hhmmss, price, volume, acc, count in chunk:
            row = ["0"] * 46
            row[0], row[1], row[2], row[3], row[4], row[5] = (
                symbol,
                hhmmss,
                str(price),
                "2",
                "100",
                "0.5",
            )
            row[6], row[12], row[13] = str(price), str(volume), str(acc)
            row[15], row[16] = str(count // 2), str(count - count // 2)
            row[21], row[33], row[34], row[35], row[43] = "1", DAY, "20", "N", "0"
            parts.append("^".join(row))
        second = int(chunk[0][1][:2]) * 3600 + int(chunk[0][1][2:4]) * 60 + int(chunk[0][1][4:])
        text = f"0|H0STCNT0|{len(chunk):03d}|" + "^".join(parts)
        frames.append((text, base + second * NS_PER_S + 200_000_000))
    return frames


def build_pipeline() -> Pipeline:
    home = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    settings = settings_for_tests(home)
    pipeline = Pipeline.from_settings(settings, MarketCalendar(settings), Metrics())
    pipeline.set_universe({s: SymbolProfile("KOSPI") for s in symbols()})
    return pipeline


def run_ticks(records: list[Record]) -> tuple[float, int, int]:
    pipeline = build_pipeline()
    gaps = flagged = 0
    start = time.perf_counter()
    for i in range(0, len(records), BATCH):
        result = pipeline.process_ticks(records[i : i + BATCH])
        gaps += len(result.gaps)
    elapsed = time.perf_counter() - start
    flagged = sum(1 for r in records if r.flags)
    return elapsed, gaps, flagged


def run_swing(n: int) -> float:
    pipeline = build_pipeline()
    names = symbols()
    base = midnight_ns(date(2026, 1, 5)) + 10 * 3600 * NS_PER_S
    records = [
        Record(
            "swing",
            "sim",
            "FHKST11300006",
            names[i % N_SYMBOLS],
            {"price": 70_000, "acc_volume": i, "upper_limit": 91_000, "lower_limit": 49_000},
            base + i * 1000,
        )
        for i in range(n)
    ]
    start = time.perf_counter()
    for i in range(0, n, 30):
        pipeline.process_swing(records[i : i + 30])
    return time.perf_counter() - start


def run_parse_pipeline_serialise(frames: list[tuple[str, int]]) -> tuple[float, int] | None:
    try:
        from observer.kis.frames import DataMessage, parse_message
    except ImportError:
        return None
    pipeline = build_pipeline()
    count = 0
    seq = 0
    start = time.perf_counter()
    for text, recv_ns in frames:
        message = parse_message(text, recv_ns)
        if not isinstance(message, DataMessage):
            continue
        batch = [
            Record("scalp", "sim", p.tr_id, p.symbol, p.data, recv_ns, raw=p.raw)
            for p in message.records
        ]
        for record in pipeline.process_ticks(batch).records_to_archive:
            seq += 1
            record.seq = seq
            record.to_line()
            count += 1
    return time.perf_counter() - start, count


def main() -> None:
    rng = random.Random(7)
    fields = trade_fields(rng, N_TRADES)
    runs = [run_ticks(make_records(fields)) for _ in range(REPEATS)]
    elapsed, gaps, flagged = min(runs)
    print(
        f"pipeline (ticks)            {N_TRADES / elapsed:>12,.0f} records/s "
        f"({N_TRADES:,} trades, {N_SYMBOLS} symbols, batches of {BATCH}; "
        f"{gaps} gaps, {flagged} flagged, {elapsed * 1e6 / N_TRADES:.2f} us/record, "
        f"best of {REPEATS})"
    )
    n_swing = 200_000
    swing = min(run_swing(n_swing) for _ in range(REPEATS))
    print(f"pipeline (swing quotes)     {n_swing / swing:>12,.0f} records/s ({n_swing:,} quotes)")
    frames = frame_texts(fields[:200_000])
    results = [run_parse_pipeline_serialise(frames) for _ in range(REPEATS)]
    if results[0] is None:
        print("parse + pipeline + line     (frame parser not available)")
        return
    seconds, count = min(r for r in results if r is not None)
    print(
        f"parse + pipeline + line     {count / seconds:>12,.0f} records/s "
        f"({count:,} trades in frames of 4, archive lines serialised, no disk; "
        f"pipeline share {(elapsed / N_TRADES) / (seconds / count):.0%})"
    )


if __name__ == "__main__":
    main()
