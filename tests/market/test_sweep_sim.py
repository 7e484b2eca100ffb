"""Track A against the simulator over loopback: calls, records and fields of one sweep."""

from __future__ import annotations

import math
from typing import Any

import pytest

from observer.market.calendar import MarketCalendar
from observer.market.sources import AccountQuoteSource
from observer.market.sweep import SweepResult, SwingSweeper
from observer.pipeline.process import Pipeline

from .archive_files import archived, events, started_outlet
from .conftest import BEFORE_OPEN


async def sweep_once(
    rig: Any, source: AccountQuoteSource, codes: list[str], names: dict[str, str] | None = None
) -> SweepResult:
    """One track A sweep of ``codes`` through a real archive writer, closed afterwards."""
    writer, outlet = await started_outlet(rig.settings, rig.clock, rig.metrics)
    pipeline = Pipeline(MarketCalendar(rig.settings), rig.metrics, source="sim")
    sweeper = SwingSweeper(rig.clock, rig.metrics, source, outlet, pipeline, source_label="sim")
    if names is not None:
        sweeper.names = names
    try:
        return await sweeper.sweep(codes)
    finally:
        await writer.close()


@pytest.mark.parametrize("size", [1, 30, 31, 95])
async def test_a_sweep_makes_ceil_n_over_30_calls_and_one_record_per_symbol(
    sim_rig: Any, size: int
) -> None:
    rig = await sim_rig(start=BEFORE_OPEN.replace(hour=10))
    s = rig.settings
    source = AccountQuoteSource(rig.account(), rig.clock)
    codes = [m.code for m in await source.masters()][:size]
    before = rig.sim.rest.requests["FHKST11300006"]
    result = await sweep_once(rig, source, codes)
    assert rig.sim.rest.requests["FHKST11300006"] - before == math.ceil(size / 30)
    assert result.calls == math.ceil(size / 30) and result.coverage == 1.0
    swing = archived(s.assets_dir, "swing")
    assert sorted(r["symbol"] for r in swing) == sorted(codes)
    assert {r["data"]["sweep_id"] for r in swing} == {result.sweep_id}
    assert all(r["tr_id"] == "FHKST11300006" and r["raw"] for r in swing)
    assert all(r["recv_ns"] >= result.sweep_id and r["data"]["price"] > 0 for r in swing)
    [event] = events(s.assets_dir, "sweep")
    assert event["data"]["quoted"] == size and event["data"]["calls"] == math.ceil(size / 30)


async def test_one_symbol_quotes_take_the_name_from_the_master_and_flag_bid_ask(
    sim_rig: Any,
) -> None:
    rig = await sim_rig(start=BEFORE_OPEN.replace(hour=10))
    s = rig.settings
    account = rig.account()
    source = AccountQuoteSource(account, rig.clock)
    masters = {m.code: m.name for m in (await source.masters())[:5]}
    today = rig.clock.now().date()
    source._fallback_day = account.rest._multi_unavailable_day = today  # as on paper accounts
    await sweep_once(rig, source, list(masters), names=masters)
    assert rig.sim.rest.requests["FHKST01010100"] == len(masters)
    swing = archived(s.assets_dir, "swing")
    assert {r["symbol"]: r["data"]["name"] for r in swing} == masters
    for record in swing:
        data = record["data"]
        assert "no_bid_ask" in record["flags"] and record["tr_id"] == "FHKST01010100"
        assert data["ask1"] is None and data["bid1"] is None
        assert data["prev_close"] == data["base_price"] > 0
