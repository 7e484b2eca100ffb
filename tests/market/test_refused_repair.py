"""Trades the archive refused (paused by the disk guard) are fetched back once it accepts again.

The market runtime streams from the simulator; for a clock minute the archive refuses every
record (as when the disk guard pauses it). The streamer keeps the cumulative-volume range of
each symbol's refused trades; when the archive takes records again, its ``archive_refused``
gaps carry that range and are repaired from the time-and-sales API, so the archive ends with
every tape trade of every streamed symbol exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from observer.archive.quarantine import QuarantineWriter
from observer.archive.writer import ArchiveWriter
from observer.clock import KST
from observer.market.calendar import MarketCalendar
from observer.market.runtime import MarketRuntime

from .archive_files import archived, events
from .test_repair_e2e import assert_matches_the_tape, settled
from .test_runtime_e2e import SETTINGS, at

DAY = datetime(2026, 11, 26, tzinfo=KST)


async def test_trades_refused_while_the_archive_paused_are_fetched_back(sim_rig: Any) -> None:
    overrides = {**SETTINGS, "OBSERVER_SIM_DROP_WS_SECONDS": 0, "OBSERVER_SIM_ACTIVITY": 0.1}
    rig = await sim_rig(start=at(DAY, 8, 59), speed=60, **overrides)
    s = rig.settings
    writer = ArchiveWriter(s.assets_dir, rig.clock, rig.metrics, fsync_ms=20)
    await writer.start()
    quarantine = QuarantineWriter(s.quarantine_dir, rig.clock, rig.metrics)
    runtime = MarketRuntime(
        s, rig.clock, rig.metrics, writer, quarantine, [rig.account()], MarketCalendar(s)
    )
    await runtime.start()
    try:
        await rig.clock.sleep_until(at(DAY, 9, 3))
        writer.pause("disk full (test)")
        await rig.clock.sleep_until(at(DAY, 9, 4))
        writer.resume()
        await rig.clock.sleep_until(at(DAY, 9, 11))
        repair = await settled(runtime)
    finally:
        await runtime.stop()
        await writer.close()
        await quarantine.close()
    assets = s.assets_dir
    refused = [
        g for g in events(assets, "gap")
        if g["data"]["reason"] == "archive_refused" and "acc_volume_to" in g["data"]
    ]  # fmt: skip
    assert refused, "trades were refused while the archive paused"
    outcomes = {
        gap_id: r["data"] for r in events(assets, "gap_repair") for gap_id in r["data"]["gap_ids"]
    }
    for gap in refused:
        data = gap["data"]
        assert data["missed_volume"] == data["acc_volume_to"] - data["acc_volume_from"] > 0
        report = outcomes[data["gap_id"]]
        assert report["outcome"] == "repaired" and report["trades_recovered"] > 0
    scalp = archived(assets, "scalp")
    assert assert_matches_the_tape(rig.sim, scalp) > 0
    assert repair["pending"] == 0
