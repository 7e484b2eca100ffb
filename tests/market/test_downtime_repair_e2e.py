"""The service's own downtime, repaired: real ``observer run`` processes on the simulator.

A first run streams the opening minutes of a simulated day and is killed (SIGKILL). A second
run starts later on the same simulated day: every symbol of the first run gets a
``service_down`` gap carrying the cumulative volume of its last archived trade, and the repair
fetches back what the downtime missed. Afterwards every tape trade of every streamed symbol
between its first and last archived trade is in the archive exactly once, and ``observer gaps``
shows the downtime gaps repaired. A restart after the day's scalp sessions repairs the
downtime at once. A downtime that cut an earlier day's streaming short cannot
be repaired (the API serves only today): its gaps end ``unrepairable`` with that reason.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from observer.archive.downtime import downtime_gaps
from observer.archive.quarantine import QuarantineWriter
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, NS_PER_S, ManualClock, kst_iso
from observer.config.settings import settings_for_tests
from observer.market.calendar import MarketCalendar
from observer.market.resume import PREVIOUS_DAY, tag_downtime
from observer.market.runtime import MarketRuntime
from observer.pipeline.record import Record
from observer.sim.market import SimMarket
from tests.pg import PgServer, db_overrides
from tests.service_process import OBSERVER, ServiceProcess, base_env, get

from .archive_files import archived, events
from .test_repair_e2e import assert_matches_the_tape, settled, trades_by_symbol
from .test_runtime_e2e import SCHEDULE, SETTINGS, at

DAY = datetime(2026, 11, 26, tzinfo=KST)  # a Thursday
ENV = {
    "OBSERVER_SESSION_SCHEDULE": SCHEDULE,  # regular 09:00-09:08, closing auction to 09:10
    "OBSERVER_CLOCK_SPEED": "60",
    "OBSERVER_SWING_INTERVAL_SECONDS": "60",
    "OBSERVER_SIM_ISSUES": "200",
    "OBSERVER_SIM_ACTIVITY": "0.1",
    "OBSERVER_SCALP_MAX_SLOTS": "4",
    "OBSERVER_SCALP_MIN_DWELL_SECONDS": "120",
    "OBSERVER_WS_SILENCE_SECONDS": "600",
}


def ns(when: datetime) -> int:
    return int(when.timestamp() * NS_PER_S)


def scalp_lines(assets: Path) -> list[dict[str, Any]]:
    """The complete lines of the plain scalp hours (while a service appends to them)."""
    found = []
    for path in sorted(assets.glob("scalp_*.jsonl")):
        data = path.read_bytes()
        found += [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return found


def streamed_until(assets: Path, when: datetime, symbols: int) -> bool:
    trades = [r for r in scalp_lines(assets) if r["tr_id"] == "H0STCNT0"]
    return len({r["symbol"] for r in trades}) >= symbols and any(
        r["recv_ns"] >= ns(when) for r in trades
    )


def service_settled(svc: ServiceProcess) -> bool:
    code, status = get(svc.url + "/status")
    if code != 200 or not isinstance(status, dict) or "gap_repair" not in status:
        return False
    repair = status["gap_repair"]
    idle = status["market"]["session"] is None and not status["market"]["collecting"]
    return idle and repair.get("pending", 0) == 0 and repair.get("queued", 0) == 0


class _Sim:
    """The simulated market as the services saw it (same seed, size, activity, schedule)."""

    def __init__(self, home: Path, at: datetime) -> None:
        settings = settings_for_tests(home, **ENV)
        self.market = SimMarket.from_settings(settings, ManualClock(at))


def gaps_shown(home: Path, day: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_"))}
    shown = subprocess.run(
        [sys.executable, "-m", "observer", "gaps", "--date", day],
        env={**env, "OBSERVER_HOME": str(home)}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


@pytest.mark.timeout(240)
def test_a_restart_on_the_same_day_repairs_the_downtime(
    home: Path, pg_server: PgServer, pg_database: str
) -> None:
    assets = home / "data" / "assets"
    start = DAY.replace(hour=8, minute=59)
    with ServiceProcess(home, OBSERVER_CLOCK_START=start.isoformat(), **ENV) as first:
        first.start(wait_ready=False)
        first.wait_for(
            lambda: streamed_until(assets, DAY.replace(hour=9, minute=3), 2),
            90,
            "trades of two symbols until 09:03",
        )
        first.kill()  # SIGKILL mid-session
    before = [r for r in archived(assets, "scalp") if r["tr_id"] == "H0STCNT0"]
    last_acc = {s: max(c) for s, c in trades_by_symbol(before).items()}
    stopped_ns = max(r["recv_ns"] for r in before)
    # the two busiest symbols are registered again at once; the others as the triggers decide
    busiest = sorted(last_acc, key=lambda s: -len(trades_by_symbol(before)[s]))[:2]
    restart = datetime.fromtimestamp(stopped_ns / NS_PER_S, KST) + timedelta(seconds=60)
    second = ServiceProcess(
        home,
        OBSERVER_CLOCK_START=restart.isoformat(),
        OBSERVER_SCALP_ALWAYS_ON=",".join(busiest),
        **ENV,
    )
    with second:
        second.start(wait_ready=False)
        second.wait_for(
            lambda: service_settled(second), 150, "the session's end, every repair settled"
        )
        assert second.terminate() == 0

    downs = [
        g for g in events(assets, "gap")
        if g["data"]["reason"] == "service_down" and g["data"]["scope"] == "symbol"
    ]  # fmt: skip
    assert {g["symbol"] for g in downs} == set(last_acc)
    for gap in downs:
        data = gap["data"]
        assert data["acc_volume_from"] == last_acc[gap["symbol"]]
        assert data["business_date"] == "20261126" and data["repair"] == "pending"
        assert data["start"] <= kst_iso(stopped_ns) < data["end"]
    reports = {
        gap_id: r["data"] for r in events(assets, "gap_repair") for gap_id in r["data"]["gap_ids"]
    }
    down_reports = [reports[g["data"]["gap_id"]] for g in downs]
    assert {r["outcome"] for r in down_reports} == {"repaired"}
    assert sum(r["trades_recovered"] for r in down_reports) > 0
    # a symbol registered again settles with the volume jump its first trade revealed
    jumps = {
        g["data"]["gap_id"]: g["symbol"]
        for g in events(assets, "gap")
        if g["data"]["reason"] == "acc_volume_jump"
    }
    by_jump = {jumps[i] for r in down_reports for i in r["gap_ids"] if i in jumps}
    assert set(busiest) <= by_jump

    scalp = archived(assets, "scalp")
    assert assert_matches_the_tape(_Sim(home, DAY.replace(hour=9, minute=11)), scalp) > 0
    backfilled = [r for r in scalp if r["source"] == "backfill"]
    assert backfilled and all(r["flags"] == ["partial"] for r in backfilled)
    # what the second run fetched for a symbol of the first lies above its last archived trade
    assert all(
        r["data"]["acc_volume"] > last_acc[r["symbol"]]
        for r in backfilled
        if r["symbol"] in last_acc and r["recv_ns"] > stopped_ns
    )

    shown = gaps_shown(home, "2026-11-26")
    lines = [line for line in shown.splitlines() if "service_down" in line]
    assert len(lines) == len(downs) and all(" repaired" in line for line in lines), shown

    # ... and in PostgreSQL after the loader: every trade once, the downtime gaps repaired
    db = {k: str(v) for k, v in db_overrides(pg_server, pg_database).items()}
    subprocess.run([*OBSERVER, "db", "load"], env=base_env(home, 0, **db), check=True, timeout=120)
    trades, gap_rows = asyncio.run(loaded(pg_server.dsn(pg_database)))
    assert trades == len(scalp)
    assert gap_rows == {g["data"]["gap_id"]: "repaired" for g in downs}


async def loaded(dsn: str) -> tuple[int, dict[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        trades = await conn.fetchval("SELECT count(*) FROM ticks")
        rows = await conn.fetch(
            "SELECT gap_id, repair_outcome FROM gaps WHERE reason = 'service_down'"
            " AND scope = 'symbol'"
        )
    finally:
        await conn.close()
    return int(trades), {r["gap_id"]: r["repair_outcome"] for r in rows}


def _trade(symbol: str, when: datetime, acc: int, seq: int) -> Record:
    data = {"business_date": f"{when:%Y%m%d}", "acc_volume": acc, "trade_volume": 10}
    record = Record("scalp", "sim", "H0STCNT0", symbol, data, ns(when))
    record.seq = seq
    return record


@pytest.mark.timeout(120)
def test_a_downtime_that_cut_an_earlier_day_short_ends_unrepairable(home: Path) -> None:
    assets = home / "data" / "assets"
    assets.mkdir(parents=True)
    cut = DAY.replace(hour=9, minute=4)  # the previous run died in the middle of the session
    trades = [_trade("005930", cut, 1_000, 1), _trade("000660", cut, 500, 2)]
    (assets / "scalp_20261126_09.jsonl").write_bytes(b"".join(r.to_line() for r in trades))
    next_morning = (DAY + timedelta(days=1)).replace(hour=7)
    with ServiceProcess(home, OBSERVER_CLOCK_START=next_morning.isoformat(), **ENV) as svc:
        svc.start(wait_ready=False)
        svc.wait_for(lambda: bool(events(assets, "startup")), 60, "the startup record")
        assert svc.terminate() == 0
    downs = [g for g in events(assets, "gap") if g["data"]["reason"] == "service_down"]
    symbol_gaps = {g["symbol"]: g["data"] for g in downs if g["data"]["scope"] == "symbol"}
    assert set(symbol_gaps) == {"005930", "000660"}
    assert symbol_gaps["005930"]["acc_volume_from"] == 1_000
    reports = {r["data"]["gap_id"]: r["data"] for r in events(assets, "gap_repair")}
    for data in symbol_gaps.values():
        report = reports[data["gap_id"]]
        assert report["outcome"] == "unrepairable" and report["reason"] == PREVIOUS_DAY
    shown = gaps_shown(home, "2026-11-27")
    lines = [line for line in shown.splitlines() if "service_down" in line]
    assert len(lines) == 2 and all("unrepairable" in line for line in lines), shown


async def test_a_restart_after_the_scalp_sessions_repairs_the_downtime_at_once(
    sim_rig: Any,
) -> None:
    overrides = {**SETTINGS, "OBSERVER_SIM_DROP_WS_SECONDS": 0, "OBSERVER_SIM_ACTIVITY": 0.1}
    rig = await sim_rig(start=at(DAY, 9, 20), speed=60, **overrides)  # streaming ended 09:10
    s = rig.settings
    symbol = str(min(rig.sim.market.issues, key=lambda issue: issue.rank).code)
    ns, _price, volume, acml = rig.sim.market.tape(symbol).tape.columns()[:4]
    stop = ns < int(at(DAY, 9, 4).timestamp() * 1e9)  # the previous run died at 09:04
    kept = [i for i in range(len(ns)) if stop[i]][-20:]  # its last 20 trades are archived
    assert len(kept) == 20
    s.assets_dir.mkdir(parents=True, exist_ok=True)
    lines = b""
    for seq, i in enumerate(kept, start=1):
        data = {"business_date": "20261126", "acc_volume": int(acml[i]),
                "trade_volume": int(volume[i])}  # fmt: skip
        record = Record("scalp", "sim", "H0STCNT0", symbol, data, int(ns[i]))
        record.seq = seq
        lines += record.to_line()
    (s.assets_dir / "scalp_20261126_09.jsonl").write_bytes(lines)
    down = downtime_gaps(s.assets_dir, rig.clock.now_ns(), "sim")
    assert tag_downtime(down, "20261126", rig.metrics) == []
    writer = ArchiveWriter(s.assets_dir, rig.clock, rig.metrics, fsync_ms=20)
    await writer.start()
    await writer.submit_many(down)
    quarantine = QuarantineWriter(s.quarantine_dir, rig.clock, rig.metrics)
    runtime = MarketRuntime(
        s, rig.clock, rig.metrics, writer, quarantine, [rig.account()], MarketCalendar(s)
    )
    runtime.adopt_downtime(down)
    assert runtime.status()["gap_repair"]["pending"] == 1
    await runtime.start()
    try:
        repair = await settled(runtime)
    finally:
        await runtime.stop()
        await writer.close()
        await quarantine.close()
    [gap] = [g for g in down if g.symbol == symbol]
    [report] = events(s.assets_dir, "gap_repair")
    assert report["data"]["gap_ids"] == [gap.data["gap_id"]]
    assert report["data"]["outcome"] == "repaired" and report["data"]["trades_recovered"] > 0
    scalp = archived(s.assets_dir, "scalp")
    assert assert_matches_the_tape(rig.sim, scalp) > 20
    assert max(r["data"]["acc_volume"] for r in scalp) == int(acml[ns < rig.clock.now_ns()][-1])
    assert repair["repaired"] == 1
