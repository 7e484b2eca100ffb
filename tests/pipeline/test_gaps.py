"""Gap detection: missed trades, disconnect windows, missed and partial sweeps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from observer.clock import NS_PER_S
from observer.metrics import Metrics
from observer.pipeline.gaps import SweepGapTracker, TickGapDetector, disconnect_gaps
from observer.pipeline.process import Pipeline
from observer.pipeline.record import SYSTEM_TR_ID
from tests.pipeline.conftest import kst_ns, sample, trade


def test_volume_jump_gives_exact_missed_volume(pipeline: Pipeline, metrics: Metrics) -> None:
    result = pipeline.process_ticks(
        [
            trade(time="090001", acc=100, volume=100, count=1),
            trade(time="090002", acc=130, volume=30, count=2),
            # trades of 7 and 13 missed, then one of 5
            trade(time="090005", acc=155, volume=5, count=5),
            trade(time="090006", acc=156, volume=1, count=6),
        ]
    )
    assert len(result.gaps) == 1
    gap = result.gaps[0]
    assert gap.stream == "system" and gap.tr_id == SYSTEM_TR_ID and gap.symbol == "005930"
    assert gap.data == {
        "event": "gap",
        "scope": "symbol",
        "start": "2026-01-05T09:00:02.000000+09:00",
        "end": "2026-01-05T09:00:05.000000+09:00",
        "reason": "acc_volume_jump",
        "missed_volume": 20,
        "tr_id": "H0STCNT0",
        "business_date": "20260105",
        "missed_trades": 2,
        "acc_volume_from": 130,  # the missed trades' cumulative volumes: (130, 150]
        "acc_volume_to": 150,
    }
    assert gap.recv_ns == kst_ns("20260105", "090005", 150)
    assert sample(metrics, "observer_gaps_total", reason="acc_volume_jump") == 1
    assert pipeline.gaps_total == 1


def test_trade_count_jump_with_consistent_volume(pipeline: Pipeline) -> None:
    result = pipeline.process_ticks(
        [trade(acc=10, volume=10, count=4), trade(time="090002", acc=15, volume=5, count=7)]
    )
    assert [
        (g.data["reason"], g.data["missed_trades"], g.data["missed_volume"]) for g in result.gaps
    ] == [("trade_count_jump", 2, 0)]


def test_baseline_is_per_symbol_tr_id_and_business_day(pipeline: Pipeline) -> None:
    result = pipeline.process_ticks(
        [
            trade("005930", acc=1_000, volume=10),  # first sight mid-day: a baseline, no gap
            trade("035720", price=40_000, acc=50, volume=50),
            trade("005930", acc=500, volume=500, tr_id="H0UNCNT0"),  # another feed
            trade("005930", time="090002", acc=1_010, volume=10, count=2),
            trade("005930", day="20260106", time="090000", acc=7, volume=7),  # next day
        ]
    )
    assert result.gaps == []
    assert [r.flags for r in result.records_to_archive] == [[], [], [], [], []]


def test_disconnect_gaps_one_per_symbol(pipeline: Pipeline, metrics: Metrics) -> None:
    pipeline.process_ticks([trade("005930"), trade("035720", price=40_000)])
    start, end = kst_ns("20260105", "100000"), kst_ns("20260105", "100012")
    gaps = pipeline.disconnect_gaps(start, end, "websocket closed")
    assert [g.symbol for g in gaps] == ["005930", "035720"]
    assert gaps[0].data == {
        "event": "gap",
        "scope": "symbol",
        "start": "2026-01-05T10:00:00.000000+09:00",
        "end": "2026-01-05T10:00:12.000000+09:00",
        "reason": "websocket closed",
        "missed_volume": None,
        "tr_id": "H0STCNT0",
    }
    assert all(g.recv_ns == end and g.source == "sim" for g in gaps)
    chosen = pipeline.disconnect_gaps(start, end, "silence", symbols=["000660", "000660", "005380"])
    assert [g.symbol for g in chosen] == ["000660", "005380"]
    assert sample(metrics, "observer_gaps_total", reason="silence") == 2


def test_disconnect_gaps_function_without_symbols() -> None:
    assert disconnect_gaps([], 1, 2, "x", source="kis") == []


MIN = 60 * NS_PER_S


def test_sweep_on_time_and_complete_makes_no_gap() -> None:
    tracker = SweepGapTracker(300, "sim")
    t0 = kst_ns("20260105", "090000")
    assert tracker.sweep_finished(t0, t0 + 4 * NS_PER_S, 2_000, 2_000) == []
    assert tracker.sweep_finished(t0 + 5 * MIN + 2 * NS_PER_S, t0 + 6 * MIN, 2_000, 2_000) == []


def test_partial_sweep_gap() -> None:
    tracker = SweepGapTracker(300, "sim")
    t0 = kst_ns("20260105", "090000")
    gaps = tracker.sweep_finished(t0, t0 + 4 * NS_PER_S, 1_998, 2_000, ["035720", "005930"])
    assert len(gaps) == 1
    data = gaps[0].data
    assert (data["scope"], data["reason"], data["quoted"], data["universe"]) == (
        "sweep",
        "partial_sweep",
        1_998,
        2_000,
    )
    assert data["missing"] == ["005930", "035720"] and data["coverage"] == 0.999
    assert data["start"] == "2026-01-05T09:00:00.000000+09:00"
    assert data["end"] == "2026-01-05T09:00:04.000000+09:00"


def test_missed_sweep_intervals(pipeline: Pipeline, metrics: Metrics) -> None:
    t0 = kst_ns("20260105", "090000")
    assert pipeline.sweeps.sweep_finished(t0, t0 + NS_PER_S, 10, 10) == []
    gaps = pipeline.sweeps.sweep_finished(t0 + 15 * MIN, t0 + 15 * MIN + NS_PER_S, 10, 10)
    assert [(g.data["reason"], g.data["missed_sweeps"]) for g in gaps] == [("missed_sweep", 2)]
    assert gaps[0].data["start"] == "2026-01-05T09:00:00.000000+09:00"
    assert gaps[0].data["end"] == "2026-01-05T09:15:00.000000+09:00"
    assert sample(metrics, "observer_gaps_total", reason="missed_sweep") == 1
    pipeline.sweeps.pause()  # sweeping stopped on purpose (e.g. the session ended)
    assert pipeline.sweeps.sweep_finished(t0 + 300 * MIN, t0 + 301 * MIN, 10, 10) == []


@st.composite
def trade_sequences(draw: st.DrawFn) -> tuple[list[int], list[bool]]:
    volumes = draw(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=60))
    kept = draw(st.lists(st.booleans(), min_size=len(volumes), max_size=len(volumes)))
    kept[0] = True  # the first trade seen sets the baseline
    return volumes, kept


@settings(max_examples=200, deadline=None)
@given(trade_sequences())
def test_missed_volume_is_total_jump_minus_seen_trades(case: tuple[list[int], list[bool]]) -> None:
    volumes, kept = case
    detector = TickGapDetector("sim")
    acc = 0
    seen_after_first: list[int] = []
    first_acc: int | None = None
    gaps = []
    for i, (volume, keep) in enumerate(zip(volumes, kept, strict=True)):
        acc += volume
        if not keep:
            continue
        if first_acc is None:
            first_acc = acc
        else:
            seen_after_first.append(volume)
        flag, gap = detector.observe("H0STCNT0", "005930", "20260105", acc, volume, i + 1, i, i)
        assert flag is None
        if gap is not None:
            gaps.append(gap)
    assert first_acc is not None
    missed = sum(g.data["missed_volume"] for g in gaps)
    assert missed == acc_last(volumes, kept) - first_acc - sum(seen_after_first)
    assert sum(g.data["missed_trades"] for g in gaps) == kept.count(False) - trailing_drops(kept)
    assert len(gaps) == runs_of_drops(kept)


def acc_last(volumes: list[int], kept: list[bool]) -> int:
    last = max(i for i, keep in enumerate(kept) if keep)
    return sum(volumes[: last + 1])


def trailing_drops(kept: list[bool]) -> int:
    count = 0
    for keep in reversed(kept):
        if keep:
            break
        count += 1
    return count


def runs_of_drops(kept: list[bool]) -> int:
    """Holes followed by a seen trade (a trailing hole is not visible yet)."""
    return sum(1 for i in range(1, len(kept)) if kept[i] and not kept[i - 1])


def test_gap_records_carry_the_pipeline_source(pipeline: Pipeline) -> None:
    pipeline.source = "kis"
    result = pipeline.process_ticks(
        [trade(acc=10, volume=10), trade(time="090002", acc=30, volume=10, count=3)]
    )
    t0 = kst_ns("20260105", "090000")
    partial = pipeline.sweeps.sweep_finished(t0, t0 + NS_PER_S, 1, 2)
    blind = pipeline.disconnect_gaps(t0, t0 + NS_PER_S, "silence")
    assert [g.source for g in result.gaps + partial + blind] == ["kis", "kis", "kis"]
