"""Capped, jittered exponential backoff: the one retry schedule and wait of the process.

The WebSocket session (reconnects), the REST client (retries of one request) and the archive
loader (reconnects to PostgreSQL) all wait ``base``, ``2 * base``, ``4 * base`` ... up to
``cap``, each delay multiplied by a random factor in ``[1 - jitter, 1]`` so that many clients
do not retry in step. A success resets the schedule.

:meth:`Backoff.wait` is the one way to wait: on the injected :class:`~observer.clock.Clock`
(a :class:`~observer.clock.ManualClock` makes tests deterministic, with no real sleeps),
returning early when a stop event is set. Delays are REAL seconds whatever the clock's speed:
KIS and PostgreSQL count real time, so a clock running 60 times faster waits 60 times more
clock seconds.
"""

from __future__ import annotations

import asyncio
import random

from observer.clock import Clock

MAX_EXPONENT = 62  # 2**62 times any sensible base is far above any cap


class Backoff:
    """A capped, jittered exponential backoff that waits on ``clock``; ``rng`` is injectable."""

    def __init__(
        self,
        base: float,
        cap: float,
        clock: Clock,
        *,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if base < 0 or cap < base or not 0 <= jitter <= 1:
            raise ValueError("backoff needs 0 <= base <= cap and 0 <= jitter <= 1")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.attempt = 0  # failures since the last success
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - not security

    def delay(self, attempt: int, *, base: float | None = None) -> float:
        """The jittered delay in real seconds after failure number ``attempt`` (0 = the first).

        ``base`` replaces the schedule's base for this delay (e.g. a longer one after a rate
        limit); the cap still holds.
        """
        start = self.base if base is None else base
        ceiling = min(self.cap, start * 2.0 ** min(max(attempt, 0), MAX_EXPONENT))
        return ceiling * (1.0 - self.jitter * self._rng.random())

    def next_delay(self, *, base: float | None = None) -> float:
        """The delay after one more failure (counts it)."""
        delay = self.delay(self.attempt, base=base)
        self.attempt = min(self.attempt + 1, MAX_EXPONENT)
        return delay

    async def wait(
        self,
        *,
        attempt: int | None = None,
        base: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> float:
        """Wait the jittered delay of a failure, in real seconds; returns it (for logging).

        Without ``attempt`` the failure is counted (:meth:`next_delay`); with it, the delay of
        that failure number is waited and nothing is counted, for a caller that keeps its own
        count (one request's retries while other requests share the schedule). ``base`` is
        as in :meth:`delay`. When ``stop`` is set, before or during the wait, it returns at
        once.
        """
        delay = self.next_delay(base=base) if attempt is None else self.delay(attempt, base=base)
        clock_seconds = delay * self._clock.speed
        if stop is None:
            await self._clock.sleep(clock_seconds)
        else:
            await self._clock.wait_for_event(stop, clock_seconds)
        return delay

    def reset(self) -> None:
        """A success: the next failure waits ``base`` again."""
        self.attempt = 0

    def hold_at_cap(self) -> None:
        """Make the next delays the longest (a peer that must not see a retry storm)."""
        self.attempt = MAX_EXPONENT
