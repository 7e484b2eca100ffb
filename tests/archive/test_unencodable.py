"""A record that cannot become an archive line goes to the quarantine, not to nowhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from observer.archive.exceptions import ArchiveError
from observer.archive.quarantine import REASON_LABELS, QuarantineWriter, reason_label
from observer.archive.writer import ArchiveWriter
from observer.clock import ManualClock
from observer.metrics import Metrics
from observer.pipeline.record import Record
from tests.archive.conftest import sample_value


async def test_a_25_digit_price_is_quarantined_and_the_batch_is_kept(
    writer: ArchiveWriter,
    assets: Path,
    tmp_path: Path,
    clock: ManualClock,
    metrics: Metrics,
    record_at: Callable[..., Record],
) -> None:
    quarantine = QuarantineWriter(tmp_path / "quarantine", clock, metrics)
    pending = []
    writer.on_unencodable = lambda record, reason: pending.append(
        quarantine.write(f"unencodable: {reason}", record.raw or "", record.tr_id)
    )
    bad = record_at("scalp", 2)
    bad.data["price"] = 10**24
    batch = [record_at("scalp", 1), bad, record_at("scalp", 3)]
    assert await (await writer.submit_many(batch)) == 2  # the others are stored
    for write in pending:
        await write
    await quarantine.close()
    lines = [orjson.loads(x) for x in next(assets.glob("scalp_*.jsonl")).read_bytes().splitlines()]
    assert [r["data"]["i"] for r in lines] == [1, 3] and [r["seq"] for r in lines] == [1, 2]
    qfile = next((tmp_path / "quarantine").glob("*.jsonl"))
    kept = [orjson.loads(x) for x in qfile.read_bytes().splitlines()]
    assert len(kept) == 1 and kept[0]["reason"].startswith("unencodable: ")
    assert kept[0]["raw"] == bad.raw and kept[0]["tr_id"] == "H0STCNT0"
    labels = {"reason": "unencodable"}
    assert sample_value(metrics, "observer_quarantined_records_total", labels) == 1


async def test_one_unencodable_record_alone_fails_its_future(
    writer: ArchiveWriter, record_at: Callable[..., Record]
) -> None:
    seen: list[str] = []
    writer.on_unencodable = lambda record, reason: seen.append(reason)
    with pytest.raises(ArchiveError, match="quarantined"):
        await (await writer.submit(record_at("scalp", 1, price=10**30)))
    assert len(seen) == 1


def test_metric_labels_come_from_a_fixed_set() -> None:
    reasons = [f"bad price: {n!r}" for n in range(500)] + [
        f"record has {n} fields, expected 46" for n in range(500)
    ] + [f"no such thing {n}" for n in range(500)] + ["unknown tr_id", "bad_price"]  # fmt: skip
    labels = {reason_label(r) for r in reasons}
    assert labels == {"bad_field", "bad_field_count", "other", "unknown_tr_id", "bad_price"}
    assert "bad_price" in REASON_LABELS
    assert reason_label("46 fields do not divide into 3 records") == "bad_field_count"
    assert reason_label("bad business date or trade time") == "bad_field"
