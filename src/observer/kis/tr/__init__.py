"""Declared field tables of the real-time TRs, one module per layout.

A layout is a tuple of rows ``(position, KIS field code, our name, parser)``; position 0 is
always the symbol. Parsers are ``int``, ``float``, ``str`` or :func:`yes_no`. The frame
parser (:mod:`observer.kis.frames`) turns each table into precompiled converter tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Parser = Callable[[str], Any]
Row = tuple[int, str, str, Parser]


def yes_no(value: str) -> bool:
    """KIS Y/N flag as a bool; anything but ``Y`` is False."""
    return value == "Y"


@dataclass(frozen=True, slots=True)
class TrLayout:
    """The field table of one real-time TR family."""

    tr_ids: tuple[str, ...]
    rows: tuple[Row, ...]
    # (date field, time field) used to build ``trade_ts``; None when the TR has no date.
    timestamp_fields: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        for index, row in enumerate(self.rows):
            if row[0] != index:
                raise ValueError(f"{self.tr_ids[0]}: row {index} declares position {row[0]}")

    @property
    def width(self) -> int:
        """Number of known fields (a record may carry more, trailing)."""
        return len(self.rows)


def layouts() -> dict[str, TrLayout]:
    """Every known real-time layout by tr_id."""
    from observer.kis.tr import h0stasp0, h0stcnt0

    table: dict[str, TrLayout] = {}
    for layout in (h0stcnt0.LAYOUT, h0stasp0.LAYOUT):
        for tr_id in layout.tr_ids:
            table[tr_id] = layout
    return table
