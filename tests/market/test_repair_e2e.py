"""Gap repair end to end: forced WebSocket drops and garbage frames against the simulator.

After the session, every simulated trade of every streamed symbol between its first and last
archived trade is in the archive exactly once (received, or fetched back with ``source``
``backfill``), compared with the simulator's own trade tape.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from observer.archive.reader import ArchiveReader
from observer.clock import KST, Clock
from observer.metrics import Metrics
from observer.ops.gap_report import build_report
from observer.store.loader import ArchiveLoader
from tests.pg import PgServer, db_overrides

from .archive_files import archived, events
from .test_runtime_e2e import SETTINGS, at, running

DAY = datetime(2026, 11, 26, tzinfo=KST)
REPAIR_SETTINGS = {
    **SETTINGS,
    "OBSERVER_SIM_DROP_WS_SECONDS": 45,
    "OBSERVER_SIM_GARBAGE_RATE": 0.02,
    "OBSERVER_SIM_ACTIVITY": 0.1,
}


def trades_by_symbol(scalp: list[dict[str, Any]]) -> dict[str, Counter[int]]:
    found: dict[str, Counter[int]] = defaultdict(Counter)
    for record in scalp:
        if record["tr_id"] == "H0STCNT0":
            found[record["symbol"]][int(record["data"]["acc_volume"])] += 1
    return found


def assert_matches_the_tape(sim: Any, scalp: list[dict[str, Any]]) -> int:
    """Every tape trade between a symbol's first and last archived trade, exactly once."""
    found = trades_by_symbol(scalp)
    assert found, "nothing was streamed"
    total = 0
    for symbol, counts in found.items():
        assert max(counts.values()) == 1, f"{symbol}: a trade archived twice"
        tape = sim.market.tape(symbol).tape
        acml = tape.columns()[3]
        low, high = min(counts), max(counts)
        expected = {int(a) for a in acml if low <= a <= high}
        missing = sorted(expected - set(counts))
        assert not missing, f"{symbol}: {len(missing)} tape trades missing, e.g. {missing[:5]}"
        assert set(counts) == expected
        total += len(expected)
    return total


def pending_gauge(runtime: Any) -> float | None:
    value = runtime.metrics.registry.get_sample_value("observer_gap_repairs_pending")
    return None if value is None else float(value)


async def settled(runtime: Any) -> dict[str, Any]:
    """Wait until no repair is pending; all along the gauge reads what /status says."""
    async with asyncio.timeout(60):
        while True:
            repair = runtime.status()["gap_repair"]
            assert pending_gauge(runtime) == repair.get("pending", 0)
            if not runtime.scalp.active and repair.get("pending", 0) == 0:
                return dict(repair)
            await asyncio.sleep(0.05)


async def test_drops_are_repaired_so_the_archive_matches_the_tape(
    sim_rig: Any, pg_server: PgServer, pg_database: str, pg_dsn: str, home: Path
) -> None:
    db = db_overrides(pg_server, pg_database)
    rig = await sim_rig(start=at(DAY, 8, 59), speed=60, **REPAIR_SETTINGS, **db)
    async with running(rig) as runtime:
        await rig.clock.sleep_until(at(DAY, 9, 11))
        repair = await settled(runtime)
    assets = rig.settings.assets_dir
    scalp = archived(assets, "scalp")
    backfilled = [r for r in scalp if r["source"] == "backfill"]
    assert backfilled and all(r["flags"] == ["partial"] for r in backfilled)
    assert all(r["data"]["vwap"] is None and r["data"]["price"] > 0 for r in backfilled)
    ws = rig.sim.counters()["ws"]["counters"]
    assert ws["drops"] >= 3 and ws["garbage"] > 0
    assert_matches_the_tape(rig.sim, scalp)
    gaps = [g for g in events(assets, "gap") if g["data"].get("gap_id")]
    outcomes = {
        gid: r["data"]["outcome"]
        for r in events(assets, "gap_repair")
        for gid in r["data"]["gap_ids"]
    }
    assert gaps and {g["data"]["gap_id"] for g in gaps} == set(outcomes)
    assert set(outcomes.values()) == {"repaired"}
    assert repair["repaired"] == len(outcomes) and repair["trades_recovered"] == len(backfilled)
    assert rig.sim.counters()["rate_limited"] == {}

    # ... and in PostgreSQL after the loader: every trade once, every gap with its outcome
    loader = ArchiveLoader(rig.settings, Clock(), Metrics(), ArchiveReader(assets))
    await loader.run_once()
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch("SELECT symbol, acc_volume, source FROM ticks")
        outcomes_db = await conn.fetch(
            "SELECT gap_id, repair_outcome, trades_recovered FROM scalp_gaps"
            " WHERE gap_id IS NOT NULL"
        )
        untracked = await conn.fetchval("SELECT count(*) FROM gaps WHERE gap_id IS NULL")
    finally:
        await conn.close()
    archived_trades = {(r["symbol"], r["data"]["acc_volume"]) for r in scalp}
    assert len(rows) == len(scalp) and {(r[0], r[1]) for r in rows} == archived_trades
    assert sum(1 for r in rows if r["source"] == "backfill") == len(backfilled)
    assert {r["gap_id"]: r["repair_outcome"] for r in outcomes_db} == outcomes
    assert sum(r["trades_recovered"] for r in outcomes_db) >= len(backfilled)
    assert untracked == len(events(assets, "gap")) - len(gaps)

    # observer gaps: every gap repaired, nothing unaccounted for
    report = build_report(assets, DAY.date())
    assert len(report.gaps) == len(events(assets, "gap"))
    assert {g.outcome for g in report.gaps if g.outcome} == {"repaired"}
    assert report.symbols and all(s.unaccounted_volume == 0 for s in report.symbols)
    assert all(s.unaccounted_trades == 0 for s in report.symbols)
    assert sum(s.backfilled for s in report.symbols) == len(backfilled)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_"))}
    shown = subprocess.run(
        [sys.executable, "-m", "observer", "gaps", "--date", "2026-11-26"],
        env={**env, "OBSERVER_HOME": str(home)}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert f"gaps of 2026-11-26: {len(report.gaps)}" in shown.stdout
    assert "repaired +" in shown.stdout and "unaccounted volume" in shown.stdout


async def test_with_repair_off_the_drops_stay_holes(sim_rig: Any) -> None:
    rig = await sim_rig(
        start=at(DAY, 8, 59), speed=60, OBSERVER_GAP_REPAIR=False, **REPAIR_SETTINGS
    )
    async with running(rig) as runtime:
        await rig.clock.sleep_until(at(DAY, 9, 11))
        assert runtime.status()["gap_repair"]["enabled"] is False
    assets = rig.settings.assets_dir
    scalp = archived(assets, "scalp")
    assert scalp and not [r for r in scalp if r["source"] == "backfill"]
    assert events(assets, "gap_repair") == []
    assert not any("gap_id" in g["data"] for g in events(assets, "gap"))
    report = build_report(assets, DAY.date())
    assert sum(s.unaccounted_volume for s in report.symbols) > 0
    assert sum(s.unaccounted_trades or 0 for s in report.symbols) > 0
