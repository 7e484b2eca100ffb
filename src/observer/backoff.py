"""Capped, jittered exponential backoff: the one retry schedule of the process.

The WebSocket session (reconnects), the REST client (retries of one request) and the archive
loader (reconnects to PostgreSQL) all wait ``base``, ``2 * base``, ``4 * base`` ... up to
``cap``, each delay multiplied by a random factor in ``[1 - jitter, 1]`` so that many clients
do not retry in step. A success resets the schedule. The class only computes delays; each
caller waits in its own way (stop-aware, in clock or in real seconds).
"""

from __future__ import annotations

import random

MAX_EXPONENT = 62  # 2**62 times any sensible base is far above any cap


class Backoff:
    """Delays of a capped, jittered exponential backoff; ``random`` is injectable for tests."""

    def __init__(
        self, base: float, cap: float, *, jitter: float = 0.5, rng: random.Random | None = None
    ) -> None:
        if base < 0 or cap < base or not 0 <= jitter <= 1:
            raise ValueError("backoff needs 0 <= base <= cap and 0 <= jitter <= 1")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.attempt = 0  # failures since the last success
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - not security

    def delay(self, attempt: int, *, base: float | None = None) -> float:
        """The jittered delay after failure number ``attempt`` (0 = the first).

        ``base`` replaces the schedule's base for this delay (e.g. a longer one after a rate
        limit); the cap still holds.
        """
        start = self.base if base is None else base
        ceiling = min(self.cap, start * 2.0 ** min(max(attempt, 0), MAX_EXPONENT))
        return ceiling * (1.0 - self.jitter * self._rng.random())

    def next_delay(self) -> float:
        """The delay after one more failure (counts it)."""
        delay = self.delay(self.attempt)
        self.attempt = min(self.attempt + 1, MAX_EXPONENT)
        return delay

    def reset(self) -> None:
        """A success: the next failure waits ``base`` again."""
        self.attempt = 0

    def hold_at_cap(self) -> None:
        """Make the next delays the longest (a peer that must not see a retry storm)."""
        self.attempt = MAX_EXPONENT
