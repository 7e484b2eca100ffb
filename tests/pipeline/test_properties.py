"""Properties over arbitrary input: the pipeline never raises and never loses a record."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record

FIELDS = (
    "trade_time",
    "price",
    "trade_volume",
    "acc_volume",
    "sell_count",
    "buy_count",
    "business_date",
    "market",
    "upper_limit",
    "lower_limit",
    "base_price",
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.sampled_from(["20260105", "20260103", "090001", "153000", "999999", "KOSPI"]),
)
DATA = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS))
SYMBOLS = st.sampled_from(["", "005930", "035720", "069500", "000001"])
TR_IDS = st.sampled_from(["H0STCNT0", "H0UNCNT0", "H0STASP0"])
RECV = st.integers(min_value=0, max_value=4_000_000_000 * 10**9)


def scalp(items: list[tuple[str, str, dict[str, Any], int]]) -> list[Record]:
    return [Record("scalp", "sim", tr, sym, dict(data), recv) for tr, sym, data, recv in items]


# The factory fixture builds a fresh pipeline per example, so sharing it is intended.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(TR_IDS, SYMBOLS, DATA, RECV), max_size=20))
def test_ticks_never_raise_and_every_record_is_accounted_for(
    pipeline_factory: Any, items: list[tuple[str, str, dict[str, Any], int]]
) -> None:
    records = scalp(items)
    result = pipeline_factory().process_ticks(records)
    kept = {id(r) for r in result.records_to_archive}
    quarantined = {id(q.record) for q in result.quarantined}
    assert kept.isdisjoint(quarantined)
    assert kept | quarantined == {id(r) for r in records}
    assert all(g.stream == "system" and g.data["event"] == "gap" for g in result.gaps)


# The factory fixture builds a fresh pipeline per example, so sharing it is intended.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(SYMBOLS, DATA, RECV), max_size=20))
def test_swing_never_raises_and_every_record_is_accounted_for(
    pipeline_factory: Any, items: list[tuple[str, dict[str, Any], int]]
) -> None:
    records = [Record("swing", "sim", "FHKST11300006", s, dict(d), r) for s, d, r in items]
    result = pipeline_factory().process_swing(records)
    assert len(result.records_to_archive) + len(result.quarantined) == len(records)
    assert result.gaps == []


def test_settings_set_the_tolerances(make_settings: Any, calendar: Any, metrics: Any) -> None:
    from tests.pipeline.conftest import kst_ns, trade

    strict = Pipeline.from_settings(
        make_settings(
            OBSERVER_MAX_RECV_SKEW_SECONDS="2", OBSERVER_TRADE_TIME_TOLERANCE_SECONDS="0"
        ),
        calendar,
        metrics,
    )
    late = trade(recv_ns=kst_ns("20260105", "090001") + 3 * 10**9)
    early = trade(time="082959", acc=20, volume=10, count=2)
    strict.process_ticks([late, early])
    assert late.flags == ["not_in_universe", "recv_skew"]
    assert early.flags == ["not_in_universe", "outside_session"]
