"""Fixtures of the archive tests: a manual clock at a trading hour, metrics, records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from observer.archive.writer import ArchiveWriter
from observer.clock import KST, ManualClock
from observer.metrics import Metrics
from observer.pipeline.record import Record

START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=KST)


def make_record(stream: str = "scalp", recv_ns: int = 0, i: int = 0, **data: Any) -> Record:
    """A small record of ``stream`` received at ``recv_ns``."""
    return Record(
        stream=stream,  # type: ignore[arg-type]
        source="sim",
        tr_id="H0STCNT0" if stream == "scalp" else "SYSTEM",
        symbol="005930",
        data={"price": 71000 + i, "i": i, **data},
        recv_ns=recv_ns,
        raw=f"005930^{i}^71000" if stream == "scalp" else None,
    )


def sample_value(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one sample of the registry (0 when absent)."""
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    path = tmp_path / "assets"
    path.mkdir()
    return path


@pytest.fixture
def record_at(clock: ManualClock) -> Callable[..., Record]:
    """Build a record received now (by the manual clock)."""

    def build(stream: str = "scalp", i: int = 0, **data: Any) -> Record:
        return make_record(stream, clock.now_ns(), i, **data)

    return build


@pytest.fixture
async def writer(
    assets: Path, clock: ManualClock, metrics: Metrics
) -> AsyncIterator[ArchiveWriter]:
    w = ArchiveWriter(assets, clock, metrics, fsync_ms=20, batch_max=64, queue_max=256)
    await w.start()
    yield w
    await w.close()
