"""FHPST01060000 (inquire-time-itemconclusion): today's trades of one symbol, newest first.

``output2`` rows carry exactly ``stck_cntg_hour`` (HHMMSS), ``stck_pbpr`` (the trade price;
not ``stck_prpr`` here), ``prdy_vrss``, ``prdy_vrss_sign``, ``prdy_ctrt``, ``askp``, ``bidp``,
``tday_rltv`` (strength), ``acml_vol`` (cumulative volume after the trade) and ``cnqn`` (the
trade's volume). ``acml_vol`` gives a fetched trade the identity a WebSocket trade has
(symbol, business date, cumulative volume), which is what makes gap repair possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from observer.kis.envelope import Envelope
from observer.kis.quotes import Field, map_fields

TR_ID = "FHPST01060000"
PATH = "/uapi/domestic-stock/v1/quotations/inquire-time-itemconclusion"


def _safe(parse: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse(text.strip().replace(",", "")) if text.strip() else None
        except ValueError:
            return None

    return convert


# (our name, KIS name, parser): our names are the H0STCNT0 record's names for the same facts; a
# blank or unparseable value becomes None.
SALE_FIELDS: tuple[Field, ...] = tuple(
    (ours, kis, _safe(parse))
    for ours, kis, parse in (
        ("trade_time", "stck_cntg_hour", str.strip),
        ("price", "stck_pbpr", int),
        ("change", "prdy_vrss", int),
        ("change_sign", "prdy_vrss_sign", str.strip),
        ("change_rate", "prdy_ctrt", float),
        ("ask1", "askp", int),
        ("bid1", "bidp", int),
        ("strength", "tday_rltv", float),
        ("acc_volume", "acml_vol", int),
        ("trade_volume", "cnqn", int),
    )
)


@dataclass(slots=True)
class TimeSale:
    """One trade of the time-and-sales list: typed fields in ``data``, the row as JSON."""

    data: dict[str, Any]
    raw: str

    @property
    def acc_volume(self) -> int:
        return int(self.data["acc_volume"])

    @property
    def volume(self) -> int:
        return int(self.data["trade_volume"])

    @property
    def time(self) -> str:
        return str(self.data["trade_time"])


@dataclass(slots=True)
class TimeSalesPage:
    """One page: the trades (newest first), rows that could not be used, whether more exist."""

    sales: list[TimeSale] = field(default_factory=list)
    rejects: int = 0
    more: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def parse_time_sales(envelope: Envelope) -> TimeSalesPage:
    """The page in an FHPST01060000 answer; a row without time, acml_vol or cnqn is a reject."""
    page = TimeSalesPage(more=envelope.more)
    if isinstance(envelope.output1, dict):
        page.summary = dict(envelope.output1)
    rows = envelope.output2 if isinstance(envelope.output2, list) else []
    for row in rows:
        if not isinstance(row, dict):
            page.rejects += 1
            continue
        data = map_fields(row, SALE_FIELDS)
        time = data.get("trade_time")
        usable = isinstance(time, str) and len(time) == 6 and time.isdigit()
        if not usable or data["acc_volume"] is None or data["trade_volume"] is None:
            page.rejects += 1
            continue
        page.sales.append(TimeSale(data, orjson.dumps(row).decode()))
    return page
