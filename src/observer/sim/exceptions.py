"""Errors of the simulator.

ObserverError
 +-- SimulatorError              anything the simulator raises
      +-- SimConfigError           a simulator setting cannot be used (e.g. a bad schedule)
      +-- UnknownSymbolError       a code that is not in the synthetic universe (code)
"""

from __future__ import annotations

from dataclasses import dataclass

from observer.exceptions import ObserverError


class SimulatorError(ObserverError):
    """Base class of every simulator error."""


class SimConfigError(SimulatorError):
    """A simulator setting cannot be used."""


@dataclass(eq=False)
class UnknownSymbolError(SimulatorError):
    """The code is not part of the synthetic universe."""

    template = "unknown symbol {code!r}"
    code: str
