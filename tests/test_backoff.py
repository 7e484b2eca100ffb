"""The one backoff: its schedule (deterministic with a seeded random) and its wait.

The waits run on a ManualClock, which advances instead of sleeping: no test here waits real
time.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.backoff import Backoff
from observer.clock import KST, NS_PER_S, Clock, ManualClock

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=KST)


def clock() -> ManualClock:
    return ManualClock(T0)


def test_delays_double_from_base_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, clock(), jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_reset_after_a_success_starts_from_base_again() -> None:
    backoff = Backoff(1.0, 30.0, clock(), jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_hold_at_cap_makes_the_next_delay_the_longest() -> None:
    backoff = Backoff(1.0, 30.0, clock(), jitter=0.0)
    backoff.hold_at_cap()
    assert backoff.next_delay() == 30.0
    assert backoff.next_delay() == 30.0


def test_jitter_scales_each_delay_into_its_band_reproducibly() -> None:
    first = Backoff(1.0, 30.0, clock(), rng=random.Random(7))
    again = Backoff(1.0, 30.0, clock(), rng=random.Random(7))
    delays = [first.next_delay() for _ in range(8)]
    assert delays == [again.next_delay() for _ in range(8)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays[5:])) == 3  # jittered: no two capped delays alike


def test_a_per_call_base_replaces_the_schedule_base_under_the_same_cap() -> None:
    backoff = Backoff(0.25, 8.0, clock(), jitter=0.0)
    assert backoff.delay(0) == 0.25
    assert [backoff.delay(n, base=1.0) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.attempt == 0  # delay() is pure: nothing counted


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert Backoff(1.0, 30.0, clock(), jitter=0.0).delay(10**9) == 30.0


@pytest.mark.parametrize(
    ("base", "cap", "jitter"), [(-1.0, 1.0, 0.5), (2.0, 1.0, 0.5), (1, 2, 1.5)]
)
def test_a_nonsense_schedule_is_refused(base: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base, cap, clock(), jitter=jitter)


@given(
    base=st.floats(0.001, 10.0),
    factor=st.floats(1.0, 1000.0),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
    failures=st.integers(1, 80),
)
def test_every_delay_lies_within_its_jitter_band_and_never_above_the_cap(
    base: float, factor: float, jitter: float, seed: int, failures: int
) -> None:
    cap = base * factor
    backoff = Backoff(base, cap, clock(), jitter=jitter, rng=random.Random(seed))
    for n in range(failures):
        ceiling = min(cap, base * 2.0**n)
        delay = backoff.next_delay()
        assert ceiling * (1 - jitter) - 1e-12 <= delay <= ceiling


async def test_wait_advances_the_clock_by_exactly_each_counted_delay() -> None:
    manual = clock()
    backoff = Backoff(1.0, 30.0, manual, rng=random.Random(3))
    twin = Backoff(1.0, 30.0, clock(), rng=random.Random(3))
    elapsed, elapsed_ns = 0.0, manual.now_ns()
    for n in range(7):
        delay = await backoff.wait()
        assert delay == twin.next_delay()  # the same schedule, the failure counted
        elapsed += delay
        elapsed_ns += int(delay * NS_PER_S)
        assert manual.monotonic() == elapsed  # exactly the delays, nothing more
        assert manual.now_ns() == elapsed_ns
        assert backoff.attempt == n + 1
    backoff.reset()
    assert 0.5 <= await backoff.wait() <= 1.0


async def test_a_set_stop_returns_at_once_without_advancing_the_clock() -> None:
    manual = clock()
    backoff = Backoff(5.0, 30.0, manual, jitter=0.0)
    stop = asyncio.Event()
    stop.set()
    assert await backoff.wait(stop=stop) == 5.0
    assert manual.monotonic() == 0.0 and manual.now() == T0
    assert backoff.attempt == 1  # the failure still counts
    unset = asyncio.Event()
    assert await backoff.wait(stop=unset) == 10.0
    assert manual.monotonic() == 10.0  # not stopped: the whole delay passes


async def test_delays_are_real_seconds_so_a_fast_clock_waits_more_clock_seconds() -> None:
    fast = ManualClock(T0, speed=60.0)
    backoff = Backoff(0.5, 30.0, fast, jitter=0.0)
    assert await backoff.wait() == 0.5
    assert fast.monotonic() == 30.0  # 0.5 real seconds = 30 clock seconds at speed 60
    assert await backoff.wait(stop=asyncio.Event()) == 1.0
    assert fast.monotonic() == 90.0
    # the real clock turns those clock seconds back into the real delay it sleeps
    assert Clock(speed=60.0).real_seconds(fast.monotonic()) == 1.5


async def test_a_caller_with_its_own_count_waits_that_failure_and_counts_nothing() -> None:
    manual = clock()
    backoff = Backoff(0.25, 8.0, manual, jitter=0.0)
    assert await backoff.wait(attempt=2) == 1.0
    assert await backoff.wait(attempt=1, base=1.0) == 2.0  # e.g. a longer base after a limit
    assert await backoff.wait(attempt=9, base=1.0) == 8.0  # the cap still holds
    assert manual.monotonic() == 11.0
    assert backoff.attempt == 0


async def test_the_real_clock_wait_ends_when_stop_is_set_not_at_the_delay() -> None:
    backoff = Backoff(3600.0, 3600.0, Clock(), jitter=0.0)
    stop = asyncio.Event()
    waiting = asyncio.create_task(backoff.wait(stop=stop))
    await asyncio.sleep(0)  # the wait has begun
    assert not waiting.done()
    stop.set()
    assert await asyncio.wait_for(waiting, 10) == 3600.0


async def test_the_real_clock_wait_for_event_says_whether_the_event_came() -> None:
    real = Clock(speed=20.0)
    event = asyncio.Event()
    assert await real.wait_for_event(event, 0.0) is False  # the time passed first
    event.set()
    assert await real.wait_for_event(event, 3600.0) is True
