"""Synthetic archive records for the store tests and benchmarks (deterministic)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from observer.clock import KST, NS_PER_S, kst_iso
from observer.kis.tr.h0stcnt0 import ROWS
from observer.pipeline.record import Record, system_record
from observer.store.rows import TICK_FIELDS

DAY = datetime(2026, 1, 5, tzinfo=KST)
OPEN_NS = int((DAY + timedelta(hours=9)).timestamp() * NS_PER_S)


def tick(symbol: str, acc_volume: int, price: int, trade_volume: int, at_ns: int) -> Record:
    """A complete H0STCNT0 trade record at ``at_ns`` (receive time = trade time)."""
    when = datetime.fromtimestamp(at_ns / NS_PER_S, KST)
    data: dict[str, Any] = {name: None for name, _ in TICK_FIELDS}
    data.update(
        trade_time=when.strftime("%H%M%S"), price=price, change_sign="2", change=price - 70000,
        change_rate=0.5, vwap=float(price), open=70000, high=price + 100, low=price - 100,
        ask1=price + 100, bid1=price, trade_volume=trade_volume, acc_volume=acc_volume,
        acc_value=acc_volume * price, sell_count=1, buy_count=1, net_buy_count=0,
        strength=101.5, sell_volume=10, buy_volume=12, trade_side="1", buy_ratio=55.0,
        volume_ratio_prev_day=1.2, open_time="090000", open_vs_price_sign="2",
        open_vs_price=price - 70000, high_time="090000", high_vs_price_sign="5", high_vs_price=-100,
        low_time="090000", low_vs_price_sign="2", low_vs_price=100,
        business_date=when.strftime("%Y%m%d"), session_code="0", halted=False, ask1_size=50,
        bid1_size=40, total_ask_size=5000, total_bid_size=4000, turnover=0.01,
        prev_day_same_time_volume=1000, prev_day_same_time_volume_rate=90.0, hour_class="0",
        market_treatment_class="0", vi_base_price=price, market="KOSPI", session="regular",
        tick_size=100, trade_ts=kst_iso(at_ns - at_ns % NS_PER_S),
    )  # fmt: skip
    # The frame record as KIS sends it: the 46 H0STCNT0 fields joined by "^" (about 250 bytes).
    raw = "^".join(
        [symbol] + ["" if data[name] is None else str(data[name]) for _, _, name, _ in ROWS[1:]]
    ).replace("False", "N")
    return Record("scalp", "sim", "H0STCNT0", symbol, data, at_ns, raw)


def quote(symbol: str, sweep_ns: int, price: int, acc_volume: int, at_ns: int) -> Record:
    """A track A quote record of one sweep."""
    data = {
        "name": "Sample " + symbol, "market": "KOSPI", "price": price, "change": 100,
        "change_sign": "2", "change_rate": 0.1, "acc_volume": acc_volume,
        "acc_value": acc_volume * price, "open": 70000, "high": price + 10, "low": price - 10,
        "upper_limit": 91000, "lower_limit": 49000, "ask1": price + 100, "bid1": price,
        "prev_close": 70000, "base_price": 70000, "sweep_id": sweep_ns, "tick_size": 100,
        "session": "regular",
    }  # fmt: skip
    return Record("swing", "sim", "FHKST11300006", symbol, data, at_ns, "raw-" + symbol)


def gap(symbol: str, start_ns: int, end_ns: int, at_ns: int, reason: str = "disconnect") -> Record:
    """A symbol-scoped gap system record."""
    return system_record(
        "gap", at_ns, "sim", symbol, scope="symbol", start=kst_iso(start_ns), end=kst_iso(end_ns),
        reason=reason, missed_volume=None, tr_id="H0STCNT0",
    )  # fmt: skip


def scalp_series(symbols: int, per_symbol: int, start_ns: int = OPEN_NS) -> list[Record]:
    """``per_symbol`` trades for each of ``symbols`` symbols, one every 0.25 s, interleaved."""
    out = []
    for i in range(per_symbol):
        for s in range(symbols):
            at = start_ns + i * NS_PER_S // 4 + s
            out.append(tick(f"{100000 + s:06d}", (i + 1) * 10, 70000 + (i % 7) * 100, 10, at))
    return out


def write_archive(
    assets: Path, records: list[Record], start_seq: dict[str, int] | None = None
) -> None:
    """Append records as archive lines (seq per stream) to ``<stream>_YYYYMMDD_HH.jsonl``."""
    from observer.archive.paths import hour_index, plain_name

    assets.mkdir(parents=True, exist_ok=True)
    seqs = dict(start_seq or {})
    handles: dict[str, Any] = {}
    try:
        for rec in records:
            seqs[rec.stream] = rec.seq = seqs.get(rec.stream, 0) + 1
            name = plain_name(rec.stream, hour_index(rec.recv_ns))
            if name not in handles:
                handles[name] = (assets / name).open("ab")
            handles[name].write(rec.to_line())
    finally:
        for handle in handles.values():
            handle.close()
