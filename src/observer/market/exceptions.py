"""Market errors: calendar, sessions and the market runtime.

ObserverError
 +-- MarketError                 anything in observer.market
      +-- CalendarError            the session schedule or the holiday override file is
                                   invalid; ``source`` names the setting or the file,
                                   ``where`` the line or key, ``detail`` what is wrong
      +-- SnapshotError            a universe snapshot cannot be read or written (``path``)
      +-- UniverseError            the universe cannot be built and no earlier snapshot exists
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from observer.exceptions import ObserverError


class MarketError(ObserverError):
    """Base class of the market package's errors."""


@dataclass(eq=False)
class CalendarError(MarketError):
    """The session schedule or the calendar override file cannot be used."""

    source: str
    detail: str
    where: str = ""

    def __str__(self) -> str:
        location = f"{self.source} ({self.where})" if self.where else self.source
        return f"{location}: {self.detail}"


@dataclass(eq=False)
class SnapshotError(MarketError):
    """A universe snapshot cannot be read or written; ``path`` names the file."""

    template = "{path}: {detail}"
    path: Path
    detail: str


class UniverseError(MarketError):
    """The universe could not be built and no earlier snapshot can stand in.

    ``step`` names the build step that left no symbol (``master``, ``tradable``, ``types``,
    ``price``) and ``counts`` holds what each step left, when the build got that far.
    """

    def __init__(
        self, message: str, *, step: str | None = None, counts: dict[str, int] | None = None
    ) -> None:
        super().__init__(message)
        self.step = step
        self.counts = dict(counts or {})
