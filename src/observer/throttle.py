"""A log line at most every few seconds for a failure that repeats (a full disk fails every
commit): the lines in between are counted and the next line says how many were left out."""

from __future__ import annotations

import logging
import time


class LogThrottle:
    """Lets one line through per ``interval`` seconds; counts the ones it holds back."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._log = logger
        self._interval = interval
        self._last = float("-inf")
        self.suppressed = 0

    def error(self, msg: str, *args: object) -> bool:
        """Log at ERROR unless a line went out less than ``interval`` s ago; True if logged."""
        now = time.monotonic()
        if now - self._last < self._interval:
            self.suppressed += 1
            return False
        if self.suppressed:
            msg += " (%d similar lines not logged)"
            args = (*args, self.suppressed)
        self._log.error(msg, *args)
        self._last, self.suppressed = now, 0
        return True
