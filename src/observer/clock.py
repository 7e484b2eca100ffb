"""One clock for the whole process.

Every component takes time from a :class:`Clock`. The clock can start at any instant and run
at any speed (``OBSERVER_CLOCK_START`` / ``OBSERVER_CLOCK_SPEED``), so a demo at midnight can
show a trading session and tests can run a whole day in seconds. :class:`ManualClock` is the
deterministic variant for tests: time moves only when told to (``sleep`` and
``wait_for_event`` advance it).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")
KST_OFFSET_S = 9 * 3600
NS_PER_S = 1_000_000_000


class Clock:
    """Wall-clock time, optionally shifted to ``start`` and scaled by ``speed``."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be > 0")
        self._speed = speed
        self._real0_ns = time.time_ns()
        self._mono0 = time.monotonic()
        if start is None:
            self._clock0_ns = self._real0_ns
        else:
            if start.tzinfo is None:
                start = start.replace(tzinfo=KST)
            self._clock0_ns = int(start.timestamp() * NS_PER_S)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def shifted(self) -> bool:
        """True when the clock does not show real time (a start was given or speed != 1)."""
        return self._clock0_ns != self._real0_ns or self._speed != 1.0

    def now_ns(self) -> int:
        """Clock time as epoch nanoseconds."""
        elapsed = time.monotonic() - self._mono0
        return self._clock0_ns + int(elapsed * self._speed * NS_PER_S)

    def now(self) -> datetime:
        """Clock time as an aware datetime in KST."""
        return datetime.fromtimestamp(self.now_ns() / NS_PER_S, KST)

    def monotonic(self) -> float:
        """Clock seconds since an arbitrary origin; never goes backwards."""
        return (time.monotonic() - self._mono0) * self._speed

    def real_seconds(self, clock_seconds: float) -> float:
        """How many real seconds pass while the clock advances ``clock_seconds``."""
        return max(0.0, clock_seconds / self._speed)

    async def sleep(self, clock_seconds: float) -> None:
        await asyncio.sleep(self.real_seconds(clock_seconds))

    async def wait_for_event(self, event: asyncio.Event, clock_seconds: float) -> bool:
        """Wait until ``event`` is set or ``clock_seconds`` pass; True when it was set."""
        if event.is_set():
            return True
        try:
            async with asyncio.timeout(self.real_seconds(clock_seconds)):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until the clock shows ``when`` (returns at once if it already has)."""
        while True:
            remaining = when.timestamp() - self.now_ns() / NS_PER_S
            if remaining <= 0:
                return
            await self.sleep(remaining)


class ManualClock(Clock):
    """A clock that moves only when told to; its waits advance it instead of waiting.

    ``speed`` only says how many clock seconds make one real second (for code that waits
    real time, such as a backoff).
    """

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        super().__init__(start, speed)
        self._now_ns = self._clock0_ns
        self._mono = 0.0

    def now_ns(self) -> int:
        return self._now_ns

    def monotonic(self) -> float:
        return self._mono

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=KST)
        new_ns = int(when.timestamp() * NS_PER_S)
        if new_ns > self._now_ns:
            self._mono += (new_ns - self._now_ns) / NS_PER_S
        self._now_ns = new_ns

    def advance(self, seconds: float) -> None:
        self._now_ns += int(seconds * NS_PER_S)
        self._mono += seconds

    async def sleep(self, clock_seconds: float) -> None:
        self.advance(max(0.0, clock_seconds))
        await asyncio.sleep(0)

    async def wait_for_event(self, event: asyncio.Event, clock_seconds: float) -> bool:
        """A set ``event`` returns at once; otherwise the whole wait passes (the clock moves)."""
        if event.is_set():
            return True
        await self.sleep(clock_seconds)
        return event.is_set()


def kst_hhmmss(epoch_ns: int) -> str:
    """KST time of day of an epoch-ns instant as HHMMSS (KST has no daylight saving)."""
    seconds = (epoch_ns // NS_PER_S + KST_OFFSET_S) % 86_400
    return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


def kst_iso(epoch_ns: int) -> str:
    """ISO 8601 with +09:00 and microseconds, e.g. ``2026-01-05T09:00:01.123456+09:00``."""
    return datetime.fromtimestamp(epoch_ns / NS_PER_S, KST).isoformat(timespec="microseconds")
