"""The synthetic universe: issues of KOSPI and KOSDAQ, deterministic for a seed.

The universe depends on the seed only (codes, names, kinds, activity); base prices move from
day to day as a smooth function of the date, so the same seed and date always give the same
issues and prices.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date

from observer.kis.master import IssueGroup
from observer.sim.ticks import round_to_tick

Market = str  # "KOSPI" | "KOSDAQ"

_FIRST = (
    "한국",
    "대한",
    "동양",
    "서울",
    "삼성",
    "신한",
    "현대",
    "태평",
    "금강",
    "우리",
    "미래",
    "세종",
    "중앙",
    "국제",
    "동아",
    "삼양",
    "대성",
    "일진",
    "진흥",
    "성우",
    "부산",
    "한빛",
    "새한",
    "청운",
)
_SECOND = (
    "전자",
    "화학",
    "제약",
    "건설",
    "통신",
    "철강",
    "식품",
    "물산",
    "기계",
    "해운",
    "증권",
    "보험",
    "바이오",
    "에너지",
    "소재",
    "반도체",
    "정밀",
    "산업",
    "전기",
    "유통",
    "제지",
    "섬유",
    "모터스",
)
_SUFFIX = ("", "", "", "홀딩스", "산업", "테크", "글로벌", "씨앤씨", "엠텍", "시스템")
_SECTORS = ("반도체", "2차전지", "바이오", "자동차", "은행", "인터넷", "조선", "화장품")
_FUND_BRANDS = ("관측", "한빛", "누리", "가람")

KOSPI_SHARE = 0.42
# Kind mix (fractions of the universe), checked in this order.
ETF_SHARE = 0.08
ETN_SHARE = 0.02
SPAC_SHARE = 0.03
PREFERRED_SHARE = 0.05
HALTED_SHARE = 0.01
LIQUIDATION_SHARE = 0.004
ADMINISTRATIVE_SHARE = 0.01
LOW_PRICE_SHARE = 0.25  # base price under 4,000 KRW
ZIPF_EXPONENT = 1.0
MARKET_TRADES_PER_SECOND = 450.0  # mean trades/s of the whole market in the regular session
REGULAR_SECONDS = 23_400
TRADE_VALUE_MEDIAN = 2e6  # KRW: per-trade quantities are lognormal around this value
TRADE_SIZE_SIGMA = 1.3
MIN_DAILY_TURNOVER_DAYS = 40  # listed shares cover at least this many days of volume


def expected_trade_volume(price: int) -> float:
    """The mean quantity of one trade at ``price`` (lognormal around a fixed value)."""
    return 1 + math.exp(
        math.log(max(1.0, TRADE_VALUE_MEDIAN / max(1, price))) + TRADE_SIZE_SIGMA**2 / 2
    )


def expected_daily_volume(activity: float, price: int) -> float:
    """The shares a day of trading moves for an issue with this share of the market."""
    trades = MARKET_TRADES_PER_SECOND * REGULAR_SECONDS * activity
    return trades * expected_trade_volume(price)


@dataclass(frozen=True, slots=True)
class SimIssue(IssueGroup):
    """One listed issue of the synthetic market."""

    code: str
    standard_code: str
    name: str
    market: Market
    group_code: str  # ST, EF (ETF), EN (ETN)
    is_spac: bool
    is_preferred: bool
    halted: bool
    liquidation: bool
    administrative: bool
    warning_code: str  # "00" none, "01" caution, "02" warning, "03" danger
    initial_price: int
    listed_shares: int
    listing_date: str
    activity: float  # share of the whole market's trades (sums to 1 over the universe)
    rank: int  # 1 = the most traded issue

    @property
    def fund(self) -> bool:
        """ETFs and ETNs trade on a fixed 5 KRW tick."""
        return self.is_etf or self.is_etn

    @property
    def tradable(self) -> bool:
        return not self.halted

    def base_price(self, day: date, seed: int) -> int:
        """The day's base price (yesterday's close): a slow, deterministic drift."""
        phase = unit_hash(seed, self.code, "phase")
        drift = 0.06 * math.sin(2 * math.pi * (day.toordinal() / 47.0 + phase))
        noise = 0.03 * (unit_hash(seed, self.code, day.isoformat()) - 0.5)
        return round_to_tick(self.initial_price * (1 + drift + noise), self.fund)

    def prev_day_volume(self, day: date, seed: int) -> int:
        """Yesterday's volume, for the volume-ratio fields."""
        if self.halted:
            return 0
        noise = 0.6 + 0.8 * unit_hash(seed, self.code, "vol", day.isoformat())
        return max(1, int(expected_daily_volume(self.activity, self.base_price(day, seed)) * noise))


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts`` (stable across processes)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def stable_seed(*parts: object) -> int:
    """A deterministic 63-bit seed from ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def build_universe(seed: int, size: int) -> list[SimIssue]:
    """``size`` issues, the same for the same seed, sorted by code."""
    rng = random.Random(stable_seed(seed, "universe"))
    codes = sorted(rng.sample(range(1, 49_999), size))
    ranks = list(range(1, size + 1))
    rng.shuffle(ranks)
    harmonic = sum(1 / r**ZIPF_EXPONENT for r in ranks)
    issues = []
    names: set[str] = set()
    for index, number in enumerate(codes):
        issues.append(_issue(rng, number * 10, ranks[index], harmonic, names))
    return _with_preferred(rng, issues)


def _issue(
    rng: random.Random, number: int, rank: int, harmonic: float, names: set[str]
) -> SimIssue:
    code = f"{number:06d}"
    market = "KOSPI" if rng.random() < KOSPI_SHARE else "KOSDAQ"
    roll = rng.random()
    group_code = "ST"
    spac = False
    if roll < ETF_SHARE:
        group_code = "EF"
    elif roll < ETF_SHARE + ETN_SHARE:
        group_code = "EN"
    elif roll < ETF_SHARE + ETN_SHARE + SPAC_SHARE:
        spac = True
    name = _name(rng, group_code, spac, names)
    status = rng.random()
    halted = status < HALTED_SHARE
    liquidation = HALTED_SHARE <= status < HALTED_SHARE + LIQUIDATION_SHARE
    administrative = (
        HALTED_SHARE + LIQUIDATION_SHARE
        <= status
        < HALTED_SHARE + LIQUIDATION_SHARE + ADMINISTRATIVE_SHARE
    )
    warning = rng.choices(("00", "01", "02", "03"), weights=(94, 4, 1.5, 0.5))[0]
    if spac:
        price = round_to_tick(rng.uniform(1_950, 2_400))
    elif group_code in ("EF", "EN"):
        price = round_to_tick(rng.uniform(5_000, 60_000), True)
    elif rng.random() < LOW_PRICE_SHARE:
        price = round_to_tick(rng.uniform(300, 3_990))
    else:
        price = round_to_tick(math.exp(rng.uniform(math.log(4_000), math.log(900_000))))
    activity = (1 / rank**ZIPF_EXPONENT) / harmonic
    shares = int(math.exp(rng.uniform(math.log(2e6), math.log(6e8))))
    shares = max(shares, int(MIN_DAILY_TURNOVER_DAYS * expected_daily_volume(activity, price)))
    year = rng.randint(1975, 2025)
    return SimIssue(
        code=code,
        standard_code=standard_code(code),
        name=name,
        market=market,
        group_code=group_code,
        is_spac=spac,
        is_preferred=False,
        halted=halted,
        liquidation=liquidation,
        administrative=administrative,
        warning_code=warning,
        initial_price=price,
        listed_shares=shares,
        listing_date=f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        activity=activity,
        rank=rank,
    )


def _name(rng: random.Random, group_code: str, spac: bool, names: set[str]) -> str:
    while True:
        if group_code == "EF":
            name = f"{rng.choice(_FUND_BRANDS)} {rng.choice(_SECTORS)} {rng.randint(1, 300)}"
        elif group_code == "EN":
            name = f"{rng.choice(_FUND_BRANDS)} {rng.choice(_SECTORS)} ETN {rng.randint(1, 99)}"
        else:
            name = rng.choice(_FIRST) + rng.choice(_SECOND) + rng.choice(_SUFFIX)
            if len(names) > 3_000 or rng.random() < 0.1:
                name += str(rng.randint(2, 99))
            if spac:
                name += f"제{rng.randint(1, 30)}호스팩"
        if name not in names:
            names.add(name)
            return name


def _with_preferred(rng: random.Random, issues: list[SimIssue]) -> list[SimIssue]:
    """Turn some issues into the preferred share of an ordinary stock (code ending in 5)."""
    taken = {issue.code for issue in issues}
    result = list(issues)
    for index, issue in enumerate(issues):
        if issue.group_code != "ST" or issue.is_spac or rng.random() >= PREFERRED_SHARE * 2:
            continue
        partner = index + 1
        if partner >= len(issues) or issues[partner].group_code != "ST":
            continue
        code = issue.code[:5] + "5"
        if code in taken:
            continue
        taken.add(code)
        old = issues[partner]
        result[partner] = SimIssue(
            **{
                **{f: getattr(old, f) for f in SimIssue.__dataclass_fields__},
                "code": code,
                "standard_code": standard_code(code),
                "name": issue.name + "우",
                "market": issue.market,
                "is_preferred": True,
                "is_spac": False,
                "initial_price": round_to_tick(issue.initial_price * 0.7),
            }
        )
    return sorted(result, key=lambda i: i.code)


def standard_code(code: str) -> str:
    """The 12-character standard (ISIN-like) code of a short code."""
    digits = "".join(str(ord(c) - 55) if c.isalpha() else c for c in f"KR7{code}00")
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return f"KR7{code}00{(10 - total % 10) % 10}"
