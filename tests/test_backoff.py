"""The one backoff schedule: pure, deterministic with a seeded random."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.backoff import Backoff


def test_delays_double_from_base_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_reset_after_a_success_starts_from_base_again() -> None:
    backoff = Backoff(1.0, 30.0, jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_hold_at_cap_makes_the_next_delay_the_longest() -> None:
    backoff = Backoff(1.0, 30.0, jitter=0.0)
    backoff.hold_at_cap()
    assert backoff.next_delay() == 30.0
    assert backoff.next_delay() == 30.0


def test_jitter_scales_each_delay_into_its_band_reproducibly() -> None:
    first = Backoff(1.0, 30.0, rng=random.Random(7))
    again = Backoff(1.0, 30.0, rng=random.Random(7))
    delays = [first.next_delay() for _ in range(8)]
    assert delays == [again.next_delay() for _ in range(8)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays[5:])) == 3  # jittered: no two capped delays alike


def test_a_per_call_base_replaces_the_schedule_base_under_the_same_cap() -> None:
    backoff = Backoff(0.25, 8.0, jitter=0.0)
    assert backoff.delay(0) == 0.25
    assert [backoff.delay(n, base=1.0) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.attempt == 0  # delay() is pure: nothing counted


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert Backoff(1.0, 30.0, jitter=0.0).delay(10**9) == 30.0


@pytest.mark.parametrize(
    ("base", "cap", "jitter"), [(-1.0, 1.0, 0.5), (2.0, 1.0, 0.5), (1, 2, 1.5)]
)
def test_a_nonsense_schedule_is_refused(base: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base, cap, jitter=jitter)


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
    backoff = Backoff(base, cap, jitter=jitter, rng=random.Random(seed))
    for n in range(failures):
        ceiling = min(cap, base * 2.0**n)
        delay = backoff.next_delay()
        assert ceiling * (1 - jitter) - 1e-12 <= delay <= ceiling
