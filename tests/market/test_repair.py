"""GapRepairer against the simulator's time-and-sales TR over loopback: the outcomes."""

from __future__ import annotations

from typing import Any

from observer.clock import KST, NS_PER_S
from observer.market.repair import GapRepairer
from observer.pipeline.gaps import VOLUME_JUMP
from observer.pipeline.record import Record, system_record

from .archive_files import archived, events, started_outlet
from .conftest import BEFORE_OPEN

TEN = BEFORE_OPEN.replace(hour=10).astimezone(KST)


async def repairer_for(rig: Any) -> tuple[GapRepairer, Any]:
    writer, outlet = await started_outlet(rig.settings, rig.clock, rig.metrics)
    repairer = GapRepairer(
        rig.account().rest, rig.clock, outlet, rig.metrics, source_label="sim",
        last_acc_volume=lambda _tr, _sym: None,
    )  # fmt: skip
    return repairer, writer


def busiest(rig: Any) -> str:
    return str(min(rig.sim.market.issues, key=lambda issue: issue.rank).code)


def jump_gap(symbol: str, columns: Any, first: int, last: int) -> Record:
    """The gap a receiver sees when it got trade ``first`` and then trade ``last`` of the tape."""
    from observer.clock import kst_iso

    ns, _price, volume, acml = columns[:4]
    gap = system_record(
        "gap", int(ns[last]), "sim", symbol, scope="symbol", start=kst_iso(int(ns[first])),
        end=kst_iso(int(ns[last])), reason=VOLUME_JUMP,
        missed_volume=int(acml[last] - volume[last] - acml[first]), tr_id="H0STCNT0",
        business_date=TEN.strftime("%Y%m%d"),
    )  # fmt: skip
    gap.data["acc_volume_from"] = int(acml[first])
    gap.data["acc_volume_to"] = int(acml[last] - volume[last])
    return gap


async def repair(rig: Any, repairer: GapRepairer, writer: Any, gaps: list[Record]) -> None:
    import asyncio

    await repairer.outlet.archive([*gaps, *repairer.note(gaps, ())])
    worker = asyncio.create_task(repairer.run())
    await repairer.finish(30.0)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await writer.close()


def outcome(rig: Any) -> dict[str, Any]:
    [record] = events(rig.settings.assets_dir, "gap_repair")
    return dict(record["data"])


async def test_a_volume_jump_is_repaired_with_exactly_the_missed_trades(sim_rig: Any) -> None:
    rig = await sim_rig(start=TEN, OBSERVER_SIM_ISSUES=60)
    symbol = busiest(rig)
    columns = rig.sim.market.tape(symbol).tape.columns()
    assert len(columns[0]) > 200
    repairer, writer = await repairer_for(rig)
    first, last = len(columns[0]) - 150, len(columns[0]) - 10  # 139 trades missed
    await repair(rig, repairer, writer, [jump_gap(symbol, columns, first, last)])
    result = outcome(rig)
    assert result["outcome"] == "repaired" and result["trades_recovered"] == last - first - 1
    backfill = archived(rig.settings.assets_dir, "scalp")
    assert [r["data"]["acc_volume"] for r in backfill] == columns[3][first + 1 : last].tolist()
    assert [r["data"]["price"] for r in backfill] == columns[1][first + 1 : last].tolist()
    assert result["volume_recovered"] == int(columns[2][first + 1 : last].sum())
    assert repairer.status()["repaired"] == 1 and repairer.status()["pending"] == 0


async def test_a_gap_older_than_the_api_reaches(sim_rig: Any) -> None:
    rig = await sim_rig(start=TEN, speed=0.01, OBSERVER_SIM_ISSUES=60)  # the market holds still
    symbol = busiest(rig)
    tape = rig.sim.market.tape(symbol).tape
    columns = tape.columns()
    size = len(columns[0])
    tape.limit(100)  # the API reaches back 100 trades
    repairer, writer = await repairer_for(rig)
    gaps = [jump_gap(symbol, columns, size - 300, size - 50)]  # reaches into the last 100
    await repair(rig, repairer, writer, gaps)
    result = outcome(rig)
    assert result["outcome"] == "partial" and result["reason"] == "older than the API reaches"
    recovered = result["trades_recovered"]
    assert 0 < recovered < 300 - 50 - 1  # the newest part of the gap, up to its end
    backfill = [r["data"]["acc_volume"] for r in archived(rig.settings.assets_dir, "scalp")]
    assert backfill == columns[3][size - 50 - recovered : size - 50].tolist()


async def test_a_gap_wholly_out_of_reach_is_unrepairable(sim_rig: Any) -> None:
    rig = await sim_rig(start=TEN, speed=0.01, OBSERVER_SIM_ISSUES=60)
    symbol = busiest(rig)
    tape = rig.sim.market.tape(symbol).tape
    columns = tape.columns()
    size = len(columns[0])
    tape.limit(100)
    repairer, writer = await repairer_for(rig)
    await repair(rig, repairer, writer, [jump_gap(symbol, columns, size - 400, size - 300)])
    result = outcome(rig)
    assert result["outcome"] == "unrepairable" and result["trades_recovered"] == 0
    assert archived(rig.settings.assets_dir, "scalp") == []


async def test_a_repair_cut_by_the_session_end(sim_rig: Any) -> None:
    rig = await sim_rig(start=TEN, OBSERVER_SIM_ISSUES=60, OBSERVER_SIM_SLOW_MS=200)
    symbol = busiest(rig)
    columns = rig.sim.market.tape(symbol).tape.columns()
    size = len(columns[0])
    repairer, writer = await repairer_for(rig)
    gaps = [
        jump_gap(symbol, columns, size - 2000, size - 10),  # about 67 pages: cut half-way
        jump_gap(symbol, columns, size - 3000, size - 2500),  # still queued at the end
    ]
    import asyncio

    await repairer.outlet.archive([*gaps, *repairer.note(gaps, ())])
    worker = asyncio.create_task(repairer.run())
    await asyncio.sleep(1.0)  # a few pages in
    await repairer.finish(0.0)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await writer.close()
    results = {
        r["data"]["gap_id"]: r["data"] for r in events(rig.settings.assets_dir, "gap_repair")
    }
    cut, queued = (results[g.data["gap_id"]] for g in gaps)
    assert cut["outcome"] == "partial" and cut["reason"] == "session ended"
    assert 0 < cut["trades_recovered"] < 2000 - 10 - 1
    assert queued["outcome"] == "unrepairable" and queued["reason"] == "session ended"
    assert repairer.status()["pending"] == 0


async def test_rate_limit_answers_are_backed_off_and_the_repair_completes(sim_rig: Any) -> None:
    rig = await sim_rig(
        start=TEN, OBSERVER_SIM_ISSUES=60, OBSERVER_SIM_RATE_LIMIT=3, KIS_RATE_LIMIT_PER_SECOND=1000
    )
    symbol = busiest(rig)
    columns = rig.sim.market.tape(symbol).tape.columns()
    size = len(columns[0])
    repairer, writer = await repairer_for(rig)
    await repair(rig, repairer, writer, [jump_gap(symbol, columns, size - 400, size - 10)])
    result = outcome(rig)
    assert sum(rig.sim.counters()["rate_limited"].values()) > 0  # EGW00201 was met
    assert result["outcome"] == "repaired" and result["trades_recovered"] == 400 - 10 - 1


async def test_a_window_still_open_at_the_end_is_repaired_up_to_its_end(sim_rig: Any) -> None:
    import asyncio

    from observer.clock import kst_hhmmss, kst_iso

    rig = await sim_rig(start=TEN, OBSERVER_SIM_ISSUES=60)
    symbol = busiest(rig)
    columns = rig.sim.market.tape(symbol).tape.columns()
    ns, acml = columns[0], columns[3]
    # The window ends on a trade of a second that is over, so the tape already holds every trade
    # of the end's second when the repair asks for it (a second still running gains trades).
    second_now = rig.clock.now_ns() // NS_PER_S * NS_PER_S
    end_at = next(i for i in reversed(range(len(ns))) if int(ns[i]) < second_now)
    last = end_at - 100  # the last trade received before the window
    end_ns = int(ns[end_at])
    day = TEN.strftime("%Y%m%d")
    baseline = int(acml[last])
    writer, outlet = await started_outlet(rig.settings, rig.clock, rig.metrics)
    repairer = GapRepairer(
        rig.account().rest, rig.clock, outlet, rig.metrics, source_label="sim",
        last_acc_volume=lambda _tr, _sym: (day, baseline),
    )  # fmt: skip
    window = system_record(
        "gap", end_ns, "sim", symbol, scope="symbol", start=kst_iso(int(ns[last]) + 1),
        end=kst_iso(end_ns), reason="disconnect", missed_volume=None, tr_id="H0STCNT0",
    )  # fmt: skip
    assert repairer.note([window], ()) == [] and repairer.waiting
    await outlet.archive([window])
    worker = asyncio.create_task(repairer.run())
    await repairer.finish(30.0)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await writer.close()
    result = outcome(rig)
    end_second = kst_hhmmss(end_ns)
    after = rig.sim.market.tape(symbol).tape.columns()  # with trades of the end's second since
    ns, acml = after[0], after[3]
    received = baseline  # the tape may have moved on (and dropped its oldest rows) since
    expected = [
        int(a)
        for t, a in zip(ns, acml, strict=True)
        if a > received and kst_hhmmss(int(t)) <= end_second
    ]
    assert result["outcome"] == "repaired" and result["gap_ids"] == [window.data["gap_id"]]
    backfill = [r["data"]["acc_volume"] for r in archived(rig.settings.assets_dir, "scalp")]
    assert backfill == expected and len(expected) >= 100


async def test_a_shutdown_does_not_wait_for_a_slow_call(sim_rig: Any) -> None:
    import asyncio
    import time

    rig = await sim_rig(start=TEN, OBSERVER_SIM_ISSUES=60, OBSERVER_SIM_SLOW_MS=8000)
    symbol = busiest(rig)
    columns = rig.sim.market.tape(symbol).tape.columns()
    size = len(columns[0])
    repairer, writer = await repairer_for(rig)
    gap = jump_gap(symbol, columns, size - 400, size - 10)
    await repairer.outlet.archive([gap, *repairer.note([gap], ())])
    worker = asyncio.create_task(repairer.run())
    await asyncio.sleep(0.5)  # the first page is on its way and takes 8 s
    started = time.monotonic()
    await repairer.finish(0.0, "service stopping")
    assert time.monotonic() - started < 5.0  # the call in flight gets 3 s, not 8
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await writer.close()
    result = outcome(rig)
    assert result["outcome"] == "unrepairable" and result["reason"] == "service stopping"
    assert repairer.status()["pending"] == 0
