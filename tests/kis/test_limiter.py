"""RateLimiter: spacing on the process clock, fair order."""

from __future__ import annotations

import asyncio

from observer.clock import ManualClock
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
