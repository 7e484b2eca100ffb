"""Errors of the simulator.

ObserverError
 +-- SimulatorError              anything the simulator raises
      +-- SimConfigError           a simulator setting cannot be used (e.g. a bad schedule)
      +-- UnknownSymbolError       a code that is not in the synthetic universe (code)
"""

from __future__ import annotations

from observer.exceptions import ObserverError


class SimulatorError(ObserverError):
    """Base class of every simulator error."""


class SimConfigError(SimulatorError):
    """A simulator setting cannot be used."""


class UnknownSymbolError(SimulatorError):
    """The code is not part of the synthetic universe."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown symbol {code!r}")
