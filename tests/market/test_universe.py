"""Universe build from the simulator's master files and quotes over loopback; snapshots."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from observer.market.exceptions import UniverseError
from observer.market.snapshots import (
    Universe,
    UniverseSymbol,
    read_snapshot,
    snapshot_days,
    snapshot_path,
    write_snapshot,
)
from observer.market.sources import AccountQuoteSource
from observer.market.universe import UniverseBuilder
from observer.sim.issues import build_universe

DAY = date(2026, 1, 5)


def expected_counts(settings: Any, day: date) -> dict[str, int]:
    """The filter steps computed from the simulator's own issue list."""
    issues = build_universe(settings.sim_seed, settings.sim_issues)
    tradable = [i for i in issues if not (i.halted or i.liquidation or i.administrative)]

    def allowed(i: Any) -> bool:
        if i.is_etf:
            return bool(settings.universe_include_etf)
        if i.is_etn:
            return bool(settings.universe_include_etn)
        if i.is_spac:
            return bool(settings.universe_include_spac)
        if i.is_preferred:
            return bool(settings.universe_include_preferred)
        return True

    typed = [i for i in tradable if allowed(i)]
    priced = [i for i in typed if i.base_price(day, settings.sim_seed) >= settings.min_price]
    return {
        "master": len(issues),
        "tradable": len(tradable),
        "types": len(typed),
        "price": len(priced),
    }


def builder_for(rig: Any) -> UniverseBuilder:
    source = AccountQuoteSource(rig.account(), rig.clock)
    return UniverseBuilder(rig.settings, rig.clock, source, source_label="sim")


async def test_counts_per_filter_step_match_the_simulated_market(sim_rig: Any) -> None:
    rig = await sim_rig()
    outcome = await builder_for(rig).ensure(DAY)
    universe = outcome.universe
    expected = expected_counts(rig.settings, DAY)
    assert expected["master"] > expected["tradable"] > expected["types"] > expected["price"] > 0
    assert {k: universe.counts[k] for k in expected} == expected
    assert universe.counts["quote_calls"] == math.ceil(expected["types"] / 30)
    assert universe.counts["priced_from_master"] == 0
    assert outcome.built and not universe.fallback
    stored = orjson.loads(snapshot_path(rig.settings.snapshot_dir, DAY).read_bytes())
    assert stored["size"] == expected["price"] == len(stored["symbols"])
    assert stored["source"] == "sim" and stored["settings"]["min_price"] == 4000
    assert {s["market"] for s in stored["symbols"]} == {"KOSPI", "KOSDAQ"}
    assert all(s["name"] and s["prev_close"] >= 4000 for s in stored["symbols"])
    [built] = [e for e in outcome.events if e.data["action"] == "built"]
    assert built.data["counts"]["price"] == expected["price"]


async def test_type_settings_widen_the_universe(sim_rig: Any) -> None:
    rig = await sim_rig(
        OBSERVER_UNIVERSE_INCLUDE_ETF=True,
        OBSERVER_UNIVERSE_INCLUDE_PREFERRED=True,
        OBSERVER_MIN_PRICE=0,
    )
    universe = (await builder_for(rig).ensure(DAY)).universe
    expected = expected_counts(rig.settings, DAY)
    assert {k: universe.counts[k] for k in expected} == expected
    assert expected["price"] == expected["types"]


async def test_existing_snapshot_is_reused_and_changes_become_events(sim_rig: Any) -> None:
    rig = await sim_rig()
    first = (await builder_for(rig).ensure(DAY)).universe
    again = await builder_for(rig).ensure(DAY)
    assert not again.built and again.events == [] and again.universe.codes == first.codes
    # yesterday's snapshot: two symbols fewer, one that is gone today
    previous = Universe(
        day=DAY - timedelta(days=3),
        symbols=[*first.symbols[2:], UniverseSymbol("999990", "KOSPI", "gone", 5000)],
        source="sim",
        generated_at="x",
    )
    write_snapshot(rig.settings.snapshot_dir, previous)
    outcome = await builder_for(rig).ensure(DAY, rebuild=True)
    changes = {(e.data["action"], e.symbol) for e in outcome.events if e.symbol}
    assert changes == {
        ("added", first.symbols[0].code),
        ("added", first.symbols[1].code),
        ("removed", "999990"),
    }
    assert not [e for e in outcome.events if e.data["action"] == "count_warning"]


async def test_a_large_size_change_is_a_warning(sim_rig: Any) -> None:
    rig = await sim_rig()
    tiny = Universe(
        DAY - timedelta(days=1), [UniverseSymbol("000010", "KOSPI", "a", 9000)], "sim", "x"
    )
    write_snapshot(rig.settings.snapshot_dir, tiny)
    outcome = await builder_for(rig).ensure(DAY)
    [warning] = [e for e in outcome.events if e.data["action"] == "count_warning"]
    assert warning.data["previous_size"] == 1 and warning.data["size"] > 1


async def test_failed_build_falls_back_to_the_newest_earlier_snapshot(sim_rig: Any) -> None:
    rig = await sim_rig()
    builder = builder_for(rig)
    earlier = (await builder.ensure(DAY - timedelta(days=1))).universe
    older = Universe(DAY - timedelta(days=5), earlier.symbols[:3], "sim", "x")
    write_snapshot(rig.settings.snapshot_dir, older)
    await rig.sim.stop()  # the source is gone: masters cannot be downloaded
    outcome = await builder.ensure(DAY)
    assert outcome.universe.fallback and outcome.universe.codes == earlier.codes
    [event] = outcome.events
    assert event.data["action"] == "fallback"
    assert event.data["snapshot_date"] == (DAY - timedelta(days=1)).isoformat()
    assert not snapshot_path(rig.settings.snapshot_dir, DAY).exists()


async def test_failed_build_without_any_snapshot_raises(sim_rig: Any) -> None:
    rig = await sim_rig()
    builder = builder_for(rig)
    await rig.sim.stop()
    with pytest.raises(UniverseError):
        await builder.ensure(DAY)


async def test_snapshots_older_than_retention_are_removed(sim_rig: Any) -> None:
    rig = await sim_rig(OBSERVER_RETENTION_SNAPSHOT_DAYS=14)
    directory = rig.settings.snapshot_dir
    keep = Universe(
        DAY - timedelta(days=14), [UniverseSymbol("000010", "KOSPI", "a", 9000)], "sim", "x"
    )
    drop = Universe(DAY - timedelta(days=15), keep.symbols, "sim", "x")
    write_snapshot(directory, keep)
    write_snapshot(directory, drop)
    (directory / "notes.txt").write_text("not a snapshot")
    await builder_for(rig).ensure(DAY)
    assert snapshot_days(directory) == [keep.day, DAY]
    assert (directory / "notes.txt").exists()
    assert read_snapshot(directory, keep.day).codes == ["000010"]
    assert not list(directory.glob(".*tmp"))


async def test_changed_filter_settings_rebuild_the_day(sim_rig: Any) -> None:
    rig = await sim_rig()
    first = await builder_for(rig).ensure(DAY)
    stricter = rig.settings.model_copy(update={"min_price": 20_000})
    source = AccountQuoteSource(rig.account(), rig.clock)
    second = await UniverseBuilder(stricter, rig.clock, source, source_label="sim").ensure(DAY)
    assert second.built and second.universe.settings["min_price"] == 20_000
    assert len(second.universe.symbols) < len(first.universe.symbols)
    assert read_snapshot(rig.settings.snapshot_dir, DAY).settings["min_price"] == 20_000


async def test_an_emptied_universe_names_the_step_and_its_counts(sim_rig: Any) -> None:
    rig = await sim_rig(OBSERVER_MIN_PRICE=10**9)  # no issue trades that high
    with pytest.raises(UniverseError) as info:
        await builder_for(rig).build(DAY)
    expected = expected_counts(rig.settings, DAY)
    assert expected["price"] == 0 and expected["types"] > 0
    assert info.value.step == "price"
    assert info.value.counts == expected
    assert "step 'price'" in str(info.value) and f"types {expected['types']}" in str(info.value)


async def test_a_fallback_event_carries_the_failed_step_and_counts(sim_rig: Any) -> None:
    rig = await sim_rig(OBSERVER_MIN_PRICE=10**9)
    builder = builder_for(rig)
    older = Universe(
        DAY - timedelta(days=2), [UniverseSymbol("005930", "KOSPI", "x", 1)], "sim", "x"
    )
    write_snapshot(rig.settings.snapshot_dir, older)
    outcome = await builder.ensure(DAY)
    [event] = outcome.events
    assert event.data["action"] == "fallback" and event.data["failed_step"] == "price"
    assert event.data["counts"] == expected_counts(rig.settings, DAY)
    assert outcome.failure is not None and outcome.failure["failed_step"] == "price"
