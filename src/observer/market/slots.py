"""Track B slots: which symbols each WebSocket session streams.

A :class:`SlotManager` owns the slots of several sessions (one per app key, each at most 41
registrations). It keeps the always-on symbols pinned, gives the remaining slots to the wish list
from :mod:`observer.market.triggers`, and never evicts a symbol before it held its slot for the
minimum dwell time. It only plans and remembers; :func:`apply_slot_changes` carries the plan
out on the sessions, registering a new symbol before unregistering the one it replaces whenever
the session has a registration to spare.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger(__name__)

REGISTRATIONS_PER_KEY = 41
SCALP_TR_ID = "H0STCNT0"
SlotAction = Literal["assign", "evict"]


@dataclass(frozen=True, slots=True)
class SlotChange:
    """One planned change: ``symbol`` gets (assign) or loses (evict) a slot in ``session``."""

    action: SlotAction
    symbol: str
    session: str
    reason: str
    replaces: str | None = None


@dataclass(slots=True)
class _Holding:
    session: str
    since: float
    pinned: bool


def parse_symbol_list(text: str) -> list[str]:
    """Codes from a comma separated setting, in order, without blanks or repeats."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        code = part.strip()
        if code:
            seen.setdefault(code, None)
    return list(seen)


class SlotManager:
    """Plans slot assignments across sessions with pinning and a minimum dwell time."""

    def __init__(
        self,
        sessions: Sequence[str],
        *,
        per_session: int,
        always_on: Sequence[str] = (),
        min_dwell_seconds: float = 0.0,
    ) -> None:
        if not 0 <= per_session <= REGISTRATIONS_PER_KEY:
            raise ValueError(f"per_session must be 0..{REGISTRATIONS_PER_KEY}")
        self.sessions = list(sessions)
        self.per_session = per_session
        self.always_on = list(dict.fromkeys(always_on))
        self.min_dwell_seconds = min_dwell_seconds
        self._held: dict[str, _Holding] = {}

    @property
    def capacity(self) -> int:
        return self.per_session * len(self.sessions)

    def symbols(self, session: str | None = None) -> list[str]:
        """Symbols holding a slot (in one session, or in all), in assignment order."""
        return [s for s, h in self._held.items() if session is None or h.session == session]

    def session_of(self, symbol: str) -> str | None:
        holding = self._held.get(symbol)
        return holding.session if holding else None

    def held_since(self, symbol: str) -> float | None:
        holding = self._held.get(symbol)
        return holding.since if holding else None

    def reset(self) -> None:
        """Forget every slot (the sessions were closed; a new trading period starts empty)."""
        self._held.clear()

    def release(self, symbol: str) -> None:
        """Forget one slot whose registration failed."""
        self._held.pop(symbol, None)

    def _free_session(self) -> str | None:
        counts = dict.fromkeys(self.sessions, 0)
        for holding in self._held.values():
            counts[holding.session] = counts.get(holding.session, 0) + 1
        free = [(n, name) for name, n in counts.items() if n < self.per_session]
        return min(free)[1] if free else None

    def _assign(self, symbol: str, session: str, now: float, pinned: bool) -> None:
        self._held[symbol] = _Holding(session, now, pinned)

    def _evictable(self, wanted: set[str], now: float) -> list[str]:
        """Held, unpinned, unwanted symbols past their dwell time, longest held first."""
        ready = [
            (h.since, s)
            for s, h in self._held.items()
            if not h.pinned and s not in wanted and now - h.since >= self.min_dwell_seconds
        ]
        return [s for _since, s in sorted(ready)]

    def rebalance(self, desired: Iterable[str], now: float) -> list[SlotChange]:
        """Move towards ``desired`` (best first) at clock time ``now``; returns the changes made."""
        changes: list[SlotChange] = []
        wanted = [s for s in dict.fromkeys(desired) if s not in self.always_on]
        wanted_set = set(wanted)
        evictable = self._evictable(wanted_set, now)
        for symbol, pinned in [(s, True) for s in self.always_on] + [(s, False) for s in wanted]:
            if symbol in self._held:
                continue
            session = self._free_session()
            if session is not None:
                self._assign(symbol, session, now, pinned)
                reason = "always_on" if pinned else "trigger"
                changes.append(SlotChange("assign", symbol, session, reason))
                continue
            if not evictable:
                break
            victim = evictable.pop(0)
            session = self._held.pop(victim).session
            self._assign(symbol, session, now, pinned)
            reason = "always_on" if pinned else "trigger"
            changes.append(SlotChange("assign", symbol, session, reason, replaces=victim))
            changes.append(SlotChange("evict", victim, session, "replaced"))
        return changes


class RegistrationTarget(Protocol):
    """What a WebSocket session offers the slot manager."""

    @property
    def desired(self) -> set[tuple[str, str]]:
        """The registrations the session holds or restores after a reconnect."""
        ...

    async def register(self, tr_id: str, tr_key: str) -> None: ...

    async def unregister(self, tr_id: str, tr_key: str) -> None: ...


async def _swap(target: RegistrationTarget, new: str, old: str, tr_id: str) -> None:
    if len(target.desired) < REGISTRATIONS_PER_KEY:
        await target.register(tr_id, new)
        await target.unregister(tr_id, old)
    else:
        await target.unregister(tr_id, old)
        await target.register(tr_id, new)


async def apply_slot_changes(
    manager: SlotManager,
    changes: Sequence[SlotChange],
    targets: dict[str, RegistrationTarget],
    tr_id: str = SCALP_TR_ID,
) -> list[tuple[SlotChange, str | None]]:
    """Carry out ``changes`` on the sessions; returns each change with its error (None = done).

    A failed assignment is released from the manager so the slot is offered again next time.
    """
    results: list[tuple[SlotChange, str | None]] = []
    index = 0
    while index < len(changes):
        change = changes[index]
        target = targets[change.session]
        step = 1
        try:
            if change.action == "assign" and change.replaces is not None:
                step = 2
                await _swap(target, change.symbol, change.replaces, tr_id)
            elif change.action == "assign":
                await target.register(tr_id, change.symbol)
            else:
                await target.unregister(tr_id, change.symbol)
        except Exception as exc:  # registration errors come from the session; report them
            log.warning(
                "slot %s %s on %s failed: %s", change.action, change.symbol, change.session, exc
            )
            if change.action == "assign":
                manager.release(change.symbol)
            results.extend((c, type(exc).__name__) for c in changes[index : index + step])
        else:
            results.extend((c, None) for c in changes[index : index + step])
        index += step
    return results
