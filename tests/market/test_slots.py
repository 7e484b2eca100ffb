"""Track B slot allocation: capacity per session, pinning, dwell time, eviction, application."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observer.market.slots import (
    REGISTRATIONS_PER_KEY,
    SlotChange,
    SlotManager,
    apply_slot_changes,
    parse_symbol_list,
)


def test_parse_symbol_list_keeps_order_and_drops_blanks() -> None:
    assert parse_symbol_list(" 005930, ,000660,005930,") == ["005930", "000660"]
    assert parse_symbol_list("") == []


def test_capacity_is_spread_over_sessions_and_never_exceeded() -> None:
    mgr = SlotManager(["k1", "k2"], per_session=3)
    changes = mgr.rebalance([f"S{i}" for i in range(10)], now=0.0)
    assert mgr.capacity == 6
    assert [c.symbol for c in changes] == [f"S{i}" for i in range(6)]
    assert len(mgr.symbols("k1")) == 3 and len(mgr.symbols("k2")) == 3
    assert {c.action for c in changes} == {"assign"}


def test_always_on_is_assigned_first_and_never_evicted() -> None:
    mgr = SlotManager(["k1"], per_session=2, always_on=["P"], min_dwell_seconds=0)
    first = mgr.rebalance(["A", "B"], now=0.0)
    assert [(c.symbol, c.reason) for c in first] == [("P", "always_on"), ("A", "trigger")]
    changes = mgr.rebalance(["C", "D"], now=100.0)
    assert [(c.action, c.symbol) for c in changes] == [("assign", "C"), ("evict", "A")]
    assert set(mgr.symbols()) == {"P", "C"}


def test_min_dwell_blocks_eviction_until_it_has_passed() -> None:
    mgr = SlotManager(["k1"], per_session=2, min_dwell_seconds=600)
    mgr.rebalance(["A", "B"], now=0.0)
    assert mgr.rebalance(["C"], now=599.0) == []
    assert set(mgr.symbols()) == {"A", "B"}
    changes = mgr.rebalance(["C"], now=600.0)
    assert changes == [
        SlotChange("assign", "C", "k1", "trigger", replaces="A"),
        SlotChange("evict", "A", "k1", "replaced"),
    ]
    # the newcomer C now has its own dwell time; B (held longest and unwanted) goes next
    changes = mgr.rebalance(["D", "E"], now=700.0)
    assert [(c.action, c.symbol) for c in changes] == [("assign", "D"), ("evict", "B")]


def test_wanted_holders_are_not_evicted_and_free_slots_fill_before_evicting() -> None:
    mgr = SlotManager(["k1", "k2"], per_session=2, min_dwell_seconds=0)
    mgr.rebalance(["A", "B", "C"], now=0.0)
    changes = mgr.rebalance(["A", "B", "C", "D", "E"], now=10.0)
    assert [(c.action, c.symbol) for c in changes] == [("assign", "D")]
    assert sorted(mgr.symbols()) == ["A", "B", "C", "D"]


def test_per_session_above_the_key_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        SlotManager(["k1"], per_session=REGISTRATIONS_PER_KEY + 1)


class FakeTarget:
    """Records the order of register/unregister calls (the session is tested elsewhere)."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.desired: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str]] = []
        self.fail = fail or set()

    async def register(self, tr_id: str, tr_key: str) -> None:
        if tr_key in self.fail:
            raise RuntimeError("refused")
        if len(self.desired) >= REGISTRATIONS_PER_KEY:
            raise RuntimeError("limit")
        self.calls.append(("register", tr_key))
        self.desired.add((tr_id, tr_key))

    async def unregister(self, tr_id: str, tr_key: str) -> None:
        self.calls.append(("unregister", tr_key))
        self.desired.discard((tr_id, tr_key))


async def test_swap_registers_the_new_symbol_before_unregistering_the_old() -> None:
    mgr = SlotManager(["k1"], per_session=2)
    target = FakeTarget()
    await apply_slot_changes(mgr, mgr.rebalance(["A", "B"], 0.0), {"k1": target})
    target.calls.clear()
    results = await apply_slot_changes(mgr, mgr.rebalance(["C"], 1.0), {"k1": target})
    assert target.calls == [("register", "C"), ("unregister", "A")]
    assert [err for _c, err in results] == [None, None]


async def test_full_session_swaps_break_before_make() -> None:
    mgr = SlotManager(["k1"], per_session=REGISTRATIONS_PER_KEY)
    target = FakeTarget()
    symbols = [f"{i:06d}" for i in range(REGISTRATIONS_PER_KEY)]
    await apply_slot_changes(mgr, mgr.rebalance(symbols, 0.0), {"k1": target})
    target.calls.clear()
    await apply_slot_changes(mgr, mgr.rebalance(["NEW"], 1.0), {"k1": target})
    assert target.calls == [("unregister", "000000"), ("register", "NEW")]
    assert len(target.desired) == REGISTRATIONS_PER_KEY


async def test_failed_registration_releases_the_slot() -> None:
    mgr = SlotManager(["k1"], per_session=2)
    target = FakeTarget(fail={"B"})
    results = await apply_slot_changes(mgr, mgr.rebalance(["A", "B"], 0.0), {"k1": target})
    assert [(c.symbol, err) for c, err in results] == [("A", None), ("B", "RuntimeError")]
    assert mgr.symbols() == ["A"]


@settings(deadline=None)  # a loaded machine must not fail a logic test
@given(
    st.lists(
        st.tuples(st.lists(st.sampled_from("ABCDEFGHIJKL"), max_size=8), st.integers(0, 400)),
        max_size=25,
    ),
    st.integers(1, 4),
    st.integers(1, 3),
)
def test_rebalancing_keeps_capacity_pins_and_dwell(
    steps: list[tuple[list[str], int]], per_session: int, sessions: int
) -> None:
    mgr = SlotManager(
        [f"k{i}" for i in range(sessions)],
        per_session=per_session,
        always_on=["P"],
        min_dwell_seconds=300,
    )
    now = 0.0
    for desired, advance in steps:
        now += advance
        before = {s: mgr.held_since(s) for s in mgr.symbols()}
        changes = mgr.rebalance(desired, now)
        for change in changes:
            if change.action == "evict":
                assert change.symbol != "P"
                since = before[change.symbol]
                assert since is not None and now - since >= 300
        for name in mgr.sessions:
            assert len(mgr.symbols(name)) <= per_session
        assert "P" in mgr.symbols()
