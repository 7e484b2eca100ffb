"""Builds plausible H0STCNT0 / H0STASP0 records for tests (the inverse of the tables)."""

from __future__ import annotations

from observer.kis.tr import h0stasp0, h0stcnt0

TRADE = [
    "005930", "090001", "71000", "2", "500", "0.71", "70950.12", "70500", "71200", "70400",
    "71100", "71000", "10", "123456", "8765432100", "100", "120", "20", "110.50", "5000",
    "6000", "1", "54.55", "88.10", "090000", "2", "500", "091500", "5", "-200", "090300",
    "2", "600", "20260105", "20", "N", "300", "400", "50000", "60000", "0.05", "100000",
    "95.5", "0", "00", "0",
]  # fmt: skip


def trade_fields(symbol: str = "005930", second: int = 1, acc_volume: int = 123456) -> list[str]:
    """46 H0STCNT0 fields for one trade."""
    fields = list(TRADE)
    fields[0] = symbol
    fields[1] = f"0900{second:02d}"
    fields[13] = str(acc_volume)
    assert len(fields) == len(h0stcnt0.ROWS)
    return fields


def book_fields(symbol: str = "005930") -> list[str]:
    """59 H0STASP0 fields for one order book."""
    fields = [symbol, "090001", "0"]
    fields += [str(71000 + 100 * i) for i in range(10)]  # asks
    fields += [str(70900 - 100 * i) for i in range(10)]  # bids
    fields += [str(10 + i) for i in range(20)]  # sizes
    fields += ["1000", "2000", "0", "0", "71000", "50", "60", "100", "2", "0.14", "123456"]
    fields += ["-5", "7", "0", "0", "0"]
    assert len(fields) == len(h0stasp0.ROWS)
    return fields


def frame(tr_id: str, records: list[list[str]]) -> str:
    """A plain data frame carrying ``records``."""
    payload = "^".join("^".join(fields) for fields in records)
    return f"0|{tr_id}|{len(records):03d}|{payload}"
