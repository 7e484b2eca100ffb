"""KIS quote answers mapped to Observer's swing field names.

``FHKST11300006`` (intstock-multprice, up to 30 symbols) and ``FHKST01010100``
(inquire-price, one symbol) name the same facts differently; both become a :class:`Quote`
whose ``data`` uses the names in docs/internals.md. KIS sends every value as a string; a
blank or unparseable number becomes None rather than failing the whole quote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

MARKET_NAMES = {"J": "KRX", "NX": "NXT", "UN": "KRX+NXT"}


def _int(text: str) -> int | None:
    try:
        return int(text.strip().replace(",", ""))
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return None


def _float(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


def _str(text: str) -> str:
    return text.strip()


Field = tuple[str, str, Callable[[str], Any]]

# (our name, KIS name, parser) in the order of docs/internals.md.
MULTI_FIELDS: tuple[Field, ...] = (
    ("name", "inter_kor_isnm", _str),
    ("price", "inter2_prpr", _int),
    ("change", "inter2_prdy_vrss", _int),
    ("change_sign", "prdy_vrss_sign", _str),
    ("change_rate", "prdy_ctrt", _float),
    ("acc_volume", "acml_vol", _int),
    ("acc_value", "acml_tr_pbmn", _int),
    ("open", "inter2_oprc", _int),
    ("high", "inter2_hgpr", _int),
    ("low", "inter2_lwpr", _int),
    ("upper_limit", "inter2_mxpr", _int),
    ("lower_limit", "inter2_llam", _int),
    ("ask1", "inter2_askp", _int),
    ("bid1", "inter2_bidp", _int),
    ("prev_close", "inter2_prdy_clpr", _int),
    ("base_price", "inter2_sdpr", _int),
)
# FHKST01010100's output has no name, no best bid/ask and no previous close (KIS_PROTOCOL.md,
# "Quotes"): the name comes from the master file (the sweep fills it in), the previous close
# is the base price ``stck_sdpr``, and bid/ask stay empty with the flag NO_BID_ASK.
SINGLE_FIELDS: tuple[Field, ...] = (
    ("price", "stck_prpr", _int),
    ("change", "prdy_vrss", _int),
    ("change_sign", "prdy_vrss_sign", _str),
    ("change_rate", "prdy_ctrt", _float),
    ("acc_volume", "acml_vol", _int),
    ("acc_value", "acml_tr_pbmn", _int),
    ("open", "stck_oprc", _int),
    ("high", "stck_hgpr", _int),
    ("low", "stck_lwpr", _int),
    ("upper_limit", "stck_mxpr", _int),
    ("lower_limit", "stck_llam", _int),
    ("prev_close", "stck_sdpr", _int),
    ("base_price", "stck_sdpr", _int),
)
NO_BID_ASK = "no_bid_ask"  # a flag: the quote came from inquire-price, which has no bid/ask
DAILY_FIELDS: tuple[Field, ...] = (
    ("date", "stck_bsop_date", _str),
    ("open", "stck_oprc", _int),
    ("high", "stck_hgpr", _int),
    ("low", "stck_lwpr", _int),
    ("close", "stck_clpr", _int),
    ("volume", "acml_vol", _int),
    ("change", "prdy_vrss", _int),
    ("change_sign", "prdy_vrss_sign", _str),
    ("change_rate", "prdy_ctrt", _float),
)


@dataclass(slots=True)
class Quote:
    """One symbol's quote: swing field names in ``data``, the KIS object as JSON in ``raw``."""

    symbol: str
    data: dict[str, Any]
    raw: str
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class QuoteBatch:
    """The result of quoting many symbols: quotes, symbols that failed, REST calls made."""

    quotes: list[Quote] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    calls: int = 0
    used_fallback: bool = False


ORDER = ("name", "market", *(name for name, _, _ in MULTI_FIELDS if name != "name"))


def map_fields(item: Mapping[str, Any], fields: tuple[Field, ...]) -> dict[str, Any]:
    """KIS string fields to typed values under our names (missing fields become None)."""
    data: dict[str, Any] = {}
    for name, kis_name, parse in fields:
        value = item.get(kis_name)
        data[name] = parse(value) if isinstance(value, str) else None
    return data


def quote_from_multi(item: Mapping[str, Any], market_code: str) -> Quote | None:
    """A quote from one ``output`` entry of FHKST11300006, or None without a code."""
    symbol = item.get("inter_shrn_iscd")
    if not isinstance(symbol, str) or not symbol.strip():
        return None
    data = map_fields(item, MULTI_FIELDS)
    data["market"] = MARKET_NAMES.get(market_code, market_code)
    return Quote(symbol.strip(), _ordered(data), orjson.dumps(item).decode())


def quote_from_single(symbol: str, output: Mapping[str, Any], market_code: str) -> Quote:
    """A quote from the ``output`` of FHKST01010100 (name None, bid/ask None and flagged)."""
    data = map_fields(output, SINGLE_FIELDS)
    data["name"] = None
    data["market"] = MARKET_NAMES.get(market_code, market_code)
    data["ask1"] = data["bid1"] = None
    ordered = _ordered(data)
    ordered = {key: ordered[key] for key in ORDER if key in ordered}
    return Quote(symbol, ordered, orjson.dumps(output).decode(), [NO_BID_ASK])


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    """``name`` and ``market`` first, then the price fields, as listed in docs/internals.md."""
    head = {"name": data.pop("name"), "market": data.pop("market")}
    return {**head, **data}
