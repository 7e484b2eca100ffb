"""One issue on one business day: its trades, generated block by block up to "now".

The day is cut into blocks of clock time (narrow for busy issues, wide for quiet ones). Each
block's trades are drawn at once (vectorised) from the issue-day's own random stream, in a
fixed order, so the trade sequence depends only on the seed, the issue and the date, never on
when or how often it is looked at. Trades not yet due stay buffered; cumulative fields are
kept exactly as KIS sends them (ACML_VOL rises by CNTG_VOL, the trade counts by one).
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from observer.clock import NS_PER_S
from observer.pipeline.ticks import tick_size
from observer.sim.issues import (
    MARKET_TRADES_PER_SECOND,
    REGULAR_SECONDS,
    TRADE_SIZE_SIGMA,
    TRADE_VALUE_MEDIAN,
    SimIssue,
    stable_seed,
)
from observer.sim.schedule import FIXED_PRICE_RATE, PERIODIC_SECONDS, Segment, intraday_profile
from observer.sim.tape import TradeTape
from observer.sim.ticks import PriceGrid, price_limits

BLOCK_TARGET_TRADES = 1500
MIN_BLOCK_SECONDS = 10.0
MAX_BLOCK_SECONDS = 3600.0
BURST_SHARE = 0.3  # trades that share the previous trade's instant (one order, several fills)
OPENING_VOLUME_FACTOR = 30
DAILY_SIGMA = 0.02  # typical daily price move, as a share of the base price
PENDING_MAX = 200_000
AUCTION_OFFSET_NS = 1_000_000  # auction prints land 1 ms before their session ends

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class TradeTick(NamedTuple):
    """One trade and the cumulative state right after it."""

    ns: int
    price: int
    volume: int
    buy: bool
    ask1: int
    bid1: int
    acml_vol: int
    acml_value: int
    sell_count: int
    buy_count: int
    sell_vol: int
    buy_vol: int
    open: int
    open_ns: int
    high: int
    high_ns: int
    low: int
    low_ns: int
    session_code: str


class SymbolDay:
    """The trade state of one issue on one business day, advanced on demand."""

    def __init__(
        self, issue: SimIssue, day: date, seed: int, segments: list[Segment], activity: float
    ) -> None:
        self.issue = issue
        self.day = day
        self.day_text = day.strftime("%Y%m%d")
        self.base = issue.base_price(day, seed)
        self.lower, self.upper = price_limits(self.base, issue.fund)
        self.grid = PriceGrid(self.lower, self.upper, issue.fund)
        self.prev_day_volume = issue.prev_day_volume(day, seed)
        self.tick = tick_size(self.base, issue.fund)
        rate = MARKET_TRADES_PER_SECOND * activity * issue.activity if issue.tradable else 0.0
        self.rate = rate
        width = BLOCK_TARGET_TRADES / rate if rate > 0 else MAX_BLOCK_SECONDS
        self._block_ns = int(min(MAX_BLOCK_SECONDS, max(MIN_BLOCK_SECONDS, width)) * NS_PER_S)
        sigma_ticks = DAILY_SIGMA * self.base / self.tick
        self._p_move = min(0.45, sigma_ticks**2 / max(1.0, rate * REGULAR_SECONDS))
        self._sigma_ticks = max(1.0, sigma_ticks)
        self._rng = np.random.default_rng(stable_seed(seed, issue.code, day.isoformat()))
        self._blocks = self._plan(segments) if rate > 0 else []
        self._next_block = 0
        self.base_idx = self.grid.level(self.base)
        self._idx = min(self.base_idx, self.grid.size - 2)
        empty = np.zeros(0, dtype=np.int64)
        self._times: IntArray = empty
        self._prices: IntArray = empty
        self._vols: IntArray = empty
        self._levels: IntArray = empty
        self._buys: BoolArray = np.zeros(0, dtype=np.bool_)
        self._pos = 0
        self._code = "20"
        # cumulative state, exactly as the H0STCNT0 fields
        self.acml_vol = self.acml_value = 0
        self.sell_count = self.buy_count = self.sell_vol = self.buy_vol = 0
        self.open = self.open_ns = self.high = self.high_ns = self.low = self.low_ns = 0
        self.price = self.base
        self.last_ns = 0
        self.session_code = ""
        self.watched = False
        self.pending: list[TradeTick] = []
        self.dropped = 0
        self.tape: TradeTape | None = None  # kept when asked for (time-and-sales)
        self.advanced_ns = 0  # the latest instant advance() was called with

    # -- public ---------------------------------------------------------------------------
    @property
    def ask1(self) -> int:
        return self.grid.price(self._idx + 1)

    @property
    def bid1(self) -> int:
        return self.grid.price(self._idx)

    @property
    def level(self) -> int:
        """The grid level of the best bid."""
        return self._idx

    def advance(self, now_ns: int) -> None:
        """Apply every trade due by ``now_ns`` (buffering them in ``pending`` when watched)."""
        self.advanced_ns = max(self.advanced_ns, now_ns)
        while True:
            self._apply_until(now_ns)
            if self._pos < len(self._times) or self._next_block >= len(self._blocks):
                return
            if self._blocks[self._next_block][1] > now_ns:
                return
            self._generate(*self._blocks[self._next_block])
            self._next_block += 1

    def take(self) -> list[TradeTick]:
        """The buffered trades (oldest first), emptying the buffer."""
        ticks, self.pending = self.pending, []
        return ticks

    # -- generation -----------------------------------------------------------------------
    def _plan(self, segments: list[Segment]) -> list[tuple[Segment, int, int]]:
        blocks = []
        for segment in segments:
            if segment.mode in ("continuous", "fixed_price"):
                start = segment.start_ns
                while start < segment.end_ns:
                    end = min(segment.end_ns, start + self._block_ns)
                    blocks.append((segment, start, end))
                    start = end
            elif segment.mode in ("closing_print", "periodic"):
                blocks.append((segment, segment.start_ns, segment.end_ns))
        return blocks

    def _times_for(self, segment: Segment, start: int, end: int) -> IntArray:
        rng = self._rng
        if segment.mode == "closing_print":
            present = rng.random() < min(1.0, self.rate * 600)
            return np.array([end - AUCTION_OFFSET_NS] if present else [], dtype=np.int64)
        if segment.mode == "periodic":
            step = PERIODIC_SECONDS * NS_PER_S
            slots = np.arange(start + step, end + 1, step, dtype=np.int64)
            slots[slots >= end] = end - AUCTION_OFFSET_NS
            return slots[rng.random(len(slots)) < min(1.0, self.rate * 60)]
        seconds = (end - start) / NS_PER_S
        if segment.mode == "fixed_price":
            lam = self.rate * FIXED_PRICE_RATE * seconds
        else:
            middle = ((start + end) / 2 - segment.start_ns) / (segment.end_ns - segment.start_ns)
            lam = self.rate * intraday_profile(middle) * seconds
        count = int(rng.poisson(lam))
        times = np.sort(rng.integers(0, end - start, count, dtype=np.int64)) + start
        if segment.mode == "continuous" and start == segment.start_ns:
            times = np.concatenate((np.array([start], dtype=np.int64), times))
        if len(times) > 1:
            burst = rng.random(len(times)) < BURST_SHARE
            burst[0] = False
            keep = np.maximum.accumulate(np.where(burst, 0, np.arange(len(times))))
            times = times[keep]
        return times

    def _generate(self, segment: Segment, start: int, end: int) -> None:
        rng = self._rng
        times = self._times_for(segment, start, end)
        n = len(times)
        bias = max(-0.9, min(0.9, (self._idx - self.base_idx) / (3 * self._sigma_ticks)))
        roll = rng.random(n)
        down = self._p_move / 2 * (1 + bias)
        up = self._p_move / 2 * (1 - bias)
        steps = np.where(roll < down, -1, np.where(roll < down + up, 1, 0)).astype(np.int64)
        if segment.mode == "fixed_price":
            steps[:] = 0
        elif segment.mode in ("closing_print", "periodic"):
            steps = rng.integers(-3, 4, n, dtype=np.int64)
        mu = float(np.log(max(1.0, TRADE_VALUE_MEDIAN / max(1, self.price))))
        vols = (1 + np.floor(rng.lognormal(mu, TRADE_SIZE_SIGMA, n))).astype(np.int64)
        if segment.mode in ("continuous", "closing_print") and n and times[0] == start:
            vols[0] *= OPENING_VOLUME_FACTOR
        if segment.mode == "closing_print" and n:
            vols *= OPENING_VOLUME_FACTOR
        side = rng.random(n) < 0.5
        buys = np.where(steps > 0, True, np.where(steps < 0, False, side))
        levels = np.clip(self._idx + np.cumsum(steps), 0, self.grid.size - 2)
        if segment.mode == "fixed_price":
            levels[:] = self._idx
        self._times, self._vols, self._buys, self._levels = times, vols, buys, levels
        self._prices = self.grid.prices(levels + buys.astype(np.int64))
        if segment.mode == "fixed_price":
            self._prices[:] = self.price
        self._pos = 0
        self._code = segment.code

    # -- application ----------------------------------------------------------------------
    def _apply_until(self, now_ns: int) -> None:
        stop = int(np.searchsorted(self._times, now_ns, side="right"))
        if stop <= self._pos:
            return
        if self.tape is not None:
            self._record(self.tape, self._pos, stop)
        if self.watched:
            self._apply_detail(self._pos, stop)
        else:
            self._apply_bulk(self._pos, stop)
        self._idx = int(self._levels[stop - 1])
        self._pos = stop
        self.session_code = self._code
        if stop == len(self._times):  # the block is spent: keep no arrays for idle issues
            self._release_block()

    def _record(self, tape: TradeTape, begin: int, stop: int) -> None:
        """Put trades ``begin..stop`` of the block on the tape (before they are applied)."""
        vols = self._vols[begin:stop]
        buys = self._buys[begin:stop]
        levels = self._levels[begin:stop]
        bought = np.where(buys, vols, 0)
        tape.append(
            self._times[begin:stop],
            self._prices[begin:stop],
            vols,
            self.acml_vol + np.cumsum(vols),
            self.grid.prices(np.minimum(levels + 1, self.grid.size - 1)),
            self.grid.prices(levels),
            self.buy_vol + np.cumsum(bought),
            self.sell_vol + np.cumsum(vols - bought),
        )

    def _release_block(self) -> None:
        empty = np.zeros(0, dtype=np.int64)
        self._times = self._prices = self._vols = self._levels = empty
        self._buys = np.zeros(0, dtype=np.bool_)
        self._pos = 0

    def _apply_bulk(self, begin: int, stop: int) -> None:
        prices = self._prices[begin:stop]
        vols = self._vols[begin:stop]
        buys = self._buys[begin:stop]
        times = self._times[begin:stop]
        if self.acml_vol == 0:
            self.open, self.open_ns = int(prices[0]), int(times[0])
        top = int(prices.argmax())
        if prices[top] > self.high:
            self.high, self.high_ns = int(prices[top]), int(times[top])
        bottom = int(prices.argmin())
        if self.low == 0 or prices[bottom] < self.low:
            self.low, self.low_ns = int(prices[bottom]), int(times[bottom])
        buy_count = int(buys.sum())
        self.buy_count += buy_count
        self.sell_count += len(buys) - buy_count
        bought = int(vols[buys].sum())
        total = int(vols.sum())
        self.buy_vol += bought
        self.sell_vol += total - bought
        self.acml_vol += total
        self.acml_value += int((prices * vols).sum())
        self.price, self.last_ns = int(prices[-1]), int(times[-1])

    def _apply_detail(self, begin: int, stop: int) -> None:
        out = self.pending
        code = self._code
        levels = self._levels[begin:stop]
        asks = self.grid.prices(np.minimum(levels + 1, self.grid.size - 1)).tolist()
        bids = self.grid.prices(levels).tolist()
        for ns, price, volume, buy, ask, bid in zip(
            self._times[begin:stop].tolist(),
            self._prices[begin:stop].tolist(),
            self._vols[begin:stop].tolist(),
            self._buys[begin:stop].tolist(),
            asks,
            bids,
            strict=True,
        ):
            if self.acml_vol == 0:
                self.open, self.open_ns = price, ns
            if price > self.high:
                self.high, self.high_ns = price, ns
            if self.low == 0 or price < self.low:
                self.low, self.low_ns = price, ns
            if buy:
                self.buy_count += 1
                self.buy_vol += volume
            else:
                self.sell_count += 1
                self.sell_vol += volume
            self.acml_vol += volume
            self.acml_value += price * volume
            out.append(
                TradeTick(
                    ns, price, volume, buy, ask, bid,
                    self.acml_vol, self.acml_value, self.sell_count, self.buy_count,
                    self.sell_vol, self.buy_vol, self.open, self.open_ns, self.high,
                    self.high_ns, self.low, self.low_ns, code,
                )
            )  # fmt: skip
        self.price, self.last_ns = self._prices[stop - 1].item(), self._times[stop - 1].item()
        if len(out) > PENDING_MAX:
            self.dropped += len(out) - PENDING_MAX
            del out[: len(out) - PENDING_MAX]
