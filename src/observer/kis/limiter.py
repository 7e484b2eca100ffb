"""The per-app-key request limiter shared by every caller of one key."""

from __future__ import annotations

import math
from collections import deque

from observer.clock import Clock


class RateLimiter:
    """A token bucket on the process clock: at most ``rate`` requests per second.

    Callers reserve the next free slot in arrival order, so waiting is fair and needs no
    lock; ``burst`` slots may be used at once after an idle period (default 1: evenly
    spaced requests, which is what a per-second window on the server tolerates best).
    The rate is per *real* second (the server counts real time): on a clock running at
    speed x the interval in clock seconds is x times longer.

    Reserved slots alone do not bound a window: callers whose slots passed while the event
    loop was stalled would all send at once. So a second guard counts actual grants and lets
    no more than ``floor(rate)`` (at least 1, at least ``burst``) through in any real second.
    """

    def __init__(self, rate_per_second: float, clock: Clock, burst: int = 1) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be > 0")
        self._interval = clock.speed / rate_per_second
        self._slack = max(0, burst - 1) * self._interval
        self._clock = clock
        self._next = clock.monotonic()
        self._window = clock.speed  # one real second, in clock seconds
        self._capacity = max(1, burst, math.floor(rate_per_second))
        self._granted: deque[float] = deque()
        self.waits = 0
        self.background_waits = 0
        self._foreground = 0  # foreground callers waiting for a slot

    @property
    def rate(self) -> float:
        """Requests per real second."""
        return self._clock.speed / self._interval

    async def acquire(self, *, background: bool = False) -> None:
        """Wait until this caller may send one request.

        A ``background`` caller (gap repair) only takes a slot nobody else wants: it waits while
        any foreground caller waits or holds a slot still to come, so it never delays the sweep
        by more than one interval and never adds to the rate.
        """
        if background:
            await self._idle()
        else:
            self._foreground += 1
        try:
            await self._reserve()
        finally:
            if not background:
                self._foreground -= 1

    async def _idle(self) -> None:
        while True:
            now = self._clock.monotonic()
            if self._foreground == 0 and self._next <= now:
                return
            self.background_waits += 1
            await self._clock.sleep(max(self._next - now, self._interval))

    async def _reserve(self) -> None:
        now = self._clock.monotonic()
        slot = max(now - self._slack, self._next)
        self._next = slot + self._interval
        delay = slot - now
        if delay > 0:
            self.waits += 1
            await self._clock.sleep(delay)
        await self._within_window()

    async def _within_window(self) -> None:
        granted = self._granted
        while True:
            now = self._clock.monotonic()
            while granted and now - granted[0] >= self._window:
                granted.popleft()
            if len(granted) < self._capacity:
                granted.append(now)
                return
            await self._clock.sleep(granted[0] + self._window - now)
