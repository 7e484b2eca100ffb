"""Symbol master files ``kospi_code.mst`` / ``kosdaq_code.mst``: reader and writer.

Each line (cp949, terminator removed) is ``head + tail``: the head holds the short code (9
characters), the standard code (12) and the Korean name (variable); the tail is fixed width,
227 characters for KOSPI and 221 for KOSDAQ, laid out as in :data:`LAYOUTS`. The writer
(:func:`build_master_line`, :func:`build_master_zip`) uses the same table, so the simulator
serves exactly what the reader expects. Parsing never raises: bad lines come back as
:class:`MasterReject` with a reason.

``is_preferred`` is decided by the ``preferred_code`` field alone (anything but blank or
``0``); the code's last digit is not used, since newer alphanumeric codes break that rule.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Market = Literal["KOSPI", "KOSDAQ"]
MASTER_FILES: dict[str, str] = {"KOSPI": "kospi_code.mst", "KOSDAQ": "kosdaq_code.mst"}
HEAD_CODE = 9
HEAD_STANDARD = 12
HEAD_WIDTH = HEAD_CODE + HEAD_STANDARD
ENCODING = "cp949"

Span = tuple[str, int, int]


def _spans(text: str) -> tuple[Span, ...]:
    """``"name:start:end ..."`` as (name, start, end) tuples."""
    spans = []
    for item in text.split():
        name, start, end = item.split(":")
        spans.append((name, int(start), int(end)))
    return tuple(spans)


# Offsets within the tail, as published for each market.
LAYOUTS: dict[str, tuple[Span, ...]] = {
    "KOSPI": _spans(
        "group_code:0:2 market_cap_size:2:3 sector_large:3:7 sector_mid:7:11 sector_small:11:15 "
        "manufacturing:15:16 low_liquidity:16:17 governance_index:17:18 kospi200_sector:18:19 "
        "kospi100:19:20 kospi50:20:21 krx:21:22 etp:22:23 elw_issued:23:24 krx100:24:25 "
        "krx_autos:25:26 krx_semis:26:27 krx_bio:27:28 krx_banks:28:29 spac:29:30 "
        "krx_energy_chem:30:31 krx_steel:31:32 short_term_overheating:32:33 "
        "krx_media_telecom:33:34 krx_construction:34:35 non1:35:36 krx_securities:36:37 "
        "krx_shipping:37:38 krx_insurance:38:39 krx_transport:39:40 sri:40:41 "
        "base_price:41:50 lot_size:50:55 after_hours_lot_size:55:60 trading_halt:60:61 "
        "liquidation_trading:61:62 administrative_issue:62:63 market_warning_code:63:65 "
        "warning_notice:65:66 unfaithful_disclosure:66:67 backdoor_listing:67:68 "
        "lock_code:68:70 par_change_code:70:72 capital_increase_code:72:74 margin_rate:74:77 "
        "credit_available:77:78 credit_period:78:81 prev_day_volume:81:93 par_value:93:105 "
        "listing_date:105:113 listed_shares:113:128 capital:128:149 settlement_month:149:151 "
        "ipo_price:151:158 preferred_code:158:159 short_sale_overheating:159:160 "
        "abnormal_surge:160:161 krx300:161:162 kospi:162:163 revenue:163:172 "
        "operating_profit:172:181 ordinary_profit:181:190 net_income:190:195 roe:195:204 "
        "base_year_month:204:212 market_cap:212:221 group_company_code:221:224 "
        "credit_limit_exceeded:224:225 collateral_loan:225:226 stock_lending:226:227"
    ),
    "KOSDAQ": _spans(
        "group_code:0:2 market_cap_size:2:3 sector_large:3:7 sector_mid:7:11 sector_small:11:15 "
        "venture:15:16 low_liquidity:16:17 krx:17:18 etp:18:19 krx100:19:20 krx_autos:20:21 "
        "krx_semis:21:22 krx_bio:22:23 krx_banks:23:24 spac:24:25 krx_energy_chem:25:26 "
        "krx_steel:26:27 short_term_overheating:27:28 krx_media_telecom:28:29 "
        "krx_construction:29:30 investment_caution:30:31 krx_securities:31:32 "
        "krx_shipping:32:33 krx_insurance:33:34 krx_transport:34:35 kosdaq150:35:36 "
        "base_price:36:45 lot_size:45:50 after_hours_lot_size:50:55 trading_halt:55:56 "
        "liquidation_trading:56:57 administrative_issue:57:58 market_warning_code:58:60 "
        "warning_notice:60:61 unfaithful_disclosure:61:62 backdoor_listing:62:63 "
        "lock_code:63:65 par_change_code:65:67 capital_increase_code:67:69 margin_rate:69:72 "
        "credit_available:72:73 credit_period:73:76 prev_day_volume:76:88 par_value:88:100 "
        "listing_date:100:108 listed_shares:108:123 capital:123:144 settlement_month:144:146 "
        "ipo_price:146:153 preferred_code:153:154 short_sale_overheating:154:155 "
        "abnormal_surge:155:156 krx300:156:157 revenue:157:166 operating_profit:166:175 "
        "ordinary_profit:175:184 net_income:184:189 roe:189:198 base_year_month:198:206 "
        "market_cap:206:215 group_company_code:215:218 credit_limit_exceeded:218:219 "
        "collateral_loan:219:220 stock_lending:220:221"
    ),
}
TAIL_WIDTH: dict[str, int] = {market: spans[-1][2] for market, spans in LAYOUTS.items()}
_NUMERIC = ("base_price", "lot_size", "listed_shares", "market_cap")
_FLAGS = ("trading_halt", "liquidation_trading", "administrative_issue", "spac")


class IssueGroup:
    """ETF or ETN by the KRX group code, for any issue type with a ``group_code`` field."""

    __slots__ = ()
    group_code: str

    @property
    def is_etf(self) -> bool:
        """Group code EF."""
        return self.group_code == "EF"

    @property
    def is_etn(self) -> bool:
        """Group code EN."""
        return self.group_code == "EN"


@dataclass(frozen=True, slots=True)
class MasterIssue(IssueGroup):
    """One listed issue from a master file (numbers as published: shares in thousands,
    market cap in 100 M KRW)."""

    code: str
    standard_code: str
    name: str
    market: str
    group_code: str = "ST"
    halted: bool = False
    liquidation: bool = False
    administrative: bool = False
    warning_code: str = "00"
    is_spac: bool = False
    preferred_code: str = "0"
    base_price: int = 0
    lot_size: int = 1
    listed_shares: int = 0
    market_cap: int = 0
    listing_date: str = ""

    @property
    def is_preferred(self) -> bool:
        """A preferred share: ``preferred_code`` is neither blank nor ``0``."""
        return self.preferred_code.strip() not in ("", "0")


@dataclass(frozen=True, slots=True)
class MasterReject:
    """A master line that could not be read."""

    line_no: int
    reason: str
    text: str


@dataclass(slots=True)
class MasterParse:
    """Everything read from one master file."""

    market: str
    issues: list[MasterIssue] = field(default_factory=list)
    rejects: list[MasterReject] = field(default_factory=list)


def parse_master(data: bytes, market: Market) -> MasterParse:
    """Read a master file's bytes (cp949 lines); never raises."""
    result = MasterParse(market)
    spans = LAYOUTS.get(market)
    if spans is None:
        result.rejects.append(MasterReject(0, f"unknown market {market!r}", ""))
        return result
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            line = raw.decode(ENCODING)
        except UnicodeDecodeError:
            result.rejects.append(MasterReject(line_no, "not cp949 text", repr(raw[:80])))
            continue
        issue = parse_master_line(line, market)
        if isinstance(issue, str):
            result.rejects.append(MasterReject(line_no, issue, line[:80]))
        else:
            result.issues.append(issue)
    return result


def parse_master_line(line: str, market: Market) -> MasterIssue | str:
    """One decoded line as an issue, or the reason it is not one."""
    tail_width = TAIL_WIDTH[market]
    if len(line) < HEAD_WIDTH + tail_width:
        return f"line has {len(line)} characters, needs at least {HEAD_WIDTH + tail_width}"
    head, tail = line[:-tail_width], line[-tail_width:]
    code = head[:HEAD_CODE].strip()
    if not code or not code.isalnum():
        return f"bad short code {code!r}"
    values = {name: tail[start:end] for name, start, end in LAYOUTS[market]}
    numbers: dict[str, int] = {}
    for name in _NUMERIC:
        text = values[name].strip()
        if text and not (text.isdigit() and text.isascii()):
            return f"bad {name} {text!r}"
        numbers[name] = int(text) if text else 0
    listing_date = values["listing_date"].strip()
    if listing_date and not (len(listing_date) == 8 and listing_date.isdigit()):
        return f"bad listing_date {listing_date!r}"
    return MasterIssue(
        code=code,
        standard_code=head[HEAD_CODE:HEAD_WIDTH].strip(),
        name=head[HEAD_WIDTH:].strip(),
        market=market,
        group_code=values["group_code"].strip(),
        halted=values["trading_halt"] == "Y",
        liquidation=values["liquidation_trading"] == "Y",
        administrative=values["administrative_issue"] == "Y",
        warning_code=values["market_warning_code"].strip(),
        is_spac=values["spac"] == "Y",
        preferred_code=values["preferred_code"].strip(),
        listing_date=listing_date,
        **numbers,
    )


def read_master_zip(zip_bytes: bytes, market: Market) -> MasterParse:
    """Read the ``.mst`` file inside a downloaded ``.mst.zip``; never raises."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".mst")]
            if not names:
                return MasterParse(market, [], [MasterReject(0, "zip holds no .mst file", "")])
            data = archive.read(names[0])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return MasterParse(market, [], [MasterReject(0, f"not a readable zip: {exc}", "")])
    return parse_master(data, market)


def build_master_line(
    issue: MasterIssue, market: Market, extra: Mapping[str, str] | None = None
) -> str:
    """The exact fixed-width line for ``issue`` (``extra`` fills other tail fields by name).

    Raises ValueError when a value does not fit its field (the writer, unlike the reader,
    may refuse its input).
    """
    values: dict[str, str] = dict(extra or {})
    values.update(
        group_code=issue.group_code,
        trading_halt=_yn(issue.halted),
        liquidation_trading=_yn(issue.liquidation),
        administrative_issue=_yn(issue.administrative),
        market_warning_code=issue.warning_code,
        spac=_yn(issue.is_spac),
        preferred_code=issue.preferred_code,
        listing_date=issue.listing_date,
    )
    for name in _NUMERIC:
        values[name] = str(getattr(issue, name))
    tail = []
    for name, start, end in LAYOUTS[market]:
        width = end - start
        value = values.get(name, "N" if width == 1 and name not in _TEXT_ONE else "")
        if len(value) > width:
            raise ValueError(f"{name}={value!r} does not fit {width} characters")
        tail.append(value.rjust(width) if name in _NUMERIC else value.ljust(width))
    if len(issue.code) > HEAD_CODE or len(issue.standard_code) > HEAD_STANDARD:
        raise ValueError(f"code {issue.code!r} or standard code too long")
    if "\n" in issue.name or "\r" in issue.name:
        raise ValueError("name contains a line break")
    head = issue.code.ljust(HEAD_CODE) + issue.standard_code.ljust(HEAD_STANDARD) + issue.name
    return head + "".join(tail)


_TEXT_ONE = ("market_cap_size", "preferred_code")


def build_master_file(issues: Iterable[MasterIssue], market: Market) -> bytes:
    """A whole master file: one cp949 line per issue, each ending in ``\\n``."""
    lines = [build_master_line(issue, market) + "\n" for issue in issues]
    return "".join(lines).encode(ENCODING)


def build_master_zip(issues: Iterable[MasterIssue], market: Market) -> bytes:
    """The ``<market>_code.mst.zip`` bytes KIS publishes, for the simulator to serve."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MASTER_FILES[market], build_master_file(issues, market))
    return buffer.getvalue()


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"
