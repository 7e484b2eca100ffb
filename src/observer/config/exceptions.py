"""Configuration errors.

ObserverError
 +-- ConfigError        one or more problems; ``problems`` holds one line per variable
"""

from __future__ import annotations

from observer.exceptions import ObserverError


class ConfigError(ObserverError):
    """The configuration is incomplete or invalid; start-up must stop (exit code 2)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))
