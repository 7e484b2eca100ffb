"""H0STCNT0 frames for the market tests, in the documented 46-field layout."""

from __future__ import annotations


def trade_fields(
    symbol: str,
    *,
    trade_time: str = "093000",
    price: int = 10_000,
    trade_volume: int = 10,
    acc_volume: int = 10,
    sell_count: int = 0,
    buy_count: int = 1,
    business_date: str = "20260105",
) -> list[str]:
    """One trade record's 46 fields."""
    return [
        symbol,
        trade_time,
        str(price),
        "2",
        "50",
        "0.50",
        f"{price}.00",
        str(price),
        str(price),
        str(price),
        str(price + 10),
        str(price),
        str(trade_volume),
        str(acc_volume),
        str(acc_volume * price),
        str(sell_count),
        str(buy_count),
        str(buy_count - sell_count),
        "100.00",
        "0",
        str(acc_volume),
        "1",
        "50.00",
        "10.00",
        "090000",
        "2",
        "0",
        "090000",
        "2",
        "0",
        "090000",
        "2",
        "0",
        business_date,
        "20",
        "N",
        "100",
        "100",
        "1000",
        "1000",
        "0.01",
        "500",
        "10.00",
        "0",
        "00",
        str(price),
    ]


def frame(*records: list[str], tr_id: str = "H0STCNT0") -> str:
    """A data frame carrying ``records`` (count prefix as KIS sends it)."""
    payload = "^".join(field for record in records for field in record)
    return f"0|{tr_id}|{len(records):03d}|{payload}"
