"""RateLimiter: spacing on the process clock, fair order."""

from __future__ import annotations

import asyncio
from datetime import datetime

from observer.clock import KST, ManualClock
from observer.kis.limiter import RateLimiter


async def test_requests_are_spaced_by_the_rate(clock: ManualClock) -> None:
    limiter = RateLimiter(4.0, clock)
    start = clock.monotonic()
    for _ in range(9):
        await limiter.acquire()
    assert clock.monotonic() - start >= 2.0 - 1e-9
    assert limiter.waits == 8


async def test_concurrent_callers_get_distinct_slots(clock: ManualClock) -> None:
    limiter = RateLimiter(10.0, clock)
    order: list[int] = []

    async def caller(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    await asyncio.gather(*(caller(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert limiter.waits == 4


async def test_burst_allows_idle_credit(clock: ManualClock) -> None:
    limiter = RateLimiter(2.0, clock, burst=3)
    clock.advance(10)
    for _ in range(3):
        await limiter.acquire()
    assert limiter.waits == 0
    await limiter.acquire()
    assert limiter.waits == 1


class FastManualClock(ManualClock):
    """A manual clock that claims to run 50 times faster than real time."""

    @property
    def speed(self) -> float:
        return 50.0


async def test_rate_is_per_real_second_on_a_fast_clock(clock: ManualClock) -> None:
    fast = FastManualClock(clock.now())
    limiter = RateLimiter(20.0, fast)
    assert limiter.rate == 20.0
    start = fast.monotonic()
    for _ in range(3):
        await limiter.acquire()
    # two waits of 1/20 real second each = 2.5 clock seconds each at speed 50
    assert fast.monotonic() - start == 5.0


async def test_a_stalled_loop_never_lets_more_than_the_rate_through_in_one_second() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=KST))
    limiter = RateLimiter(5.0, clock)
    grants: list[float] = []

    async def caller() -> None:
        await limiter.acquire()
        grants.append(clock.monotonic())

    # Reserve ten slots, then "stall": jump the clock past all of them before anyone runs.
    waiters = [asyncio.ensure_future(caller()) for _ in range(10)]
    await asyncio.sleep(0)
    clock.advance(10.0)
    while not all(w.done() for w in waiters):
        await asyncio.sleep(0)
    for i, t in enumerate(grants):
        in_window = [u for u in grants[i:] if u - t < 1.0]
        assert len(in_window) <= 5, grants


async def test_background_callers_only_take_slots_nobody_else_wants(clock: ManualClock) -> None:
    limiter = RateLimiter(10.0, clock)
    order: list[str] = []

    async def caller(name: str, background: bool) -> None:
        await limiter.acquire(background=background)
        order.append(name)

    sweep = [asyncio.create_task(caller(f"s{n}", False)) for n in range(4)]
    await asyncio.sleep(0)  # the sweep's calls are waiting for their slots
    repairs = [asyncio.create_task(caller(f"r{n}", True)) for n in range(2)]
    await asyncio.gather(*sweep, *repairs)
    assert order[:4] == ["s0", "s1", "s2", "s3"] and sorted(order[4:]) == ["r0", "r1"]
    assert limiter.background_waits > 0
    start = clock.monotonic()
    for _ in range(5):  # alone, a background caller gets the ordinary rate
        await limiter.acquire(background=True)
    assert clock.monotonic() - start <= 0.5 + 1e-9
