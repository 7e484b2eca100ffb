"""Export: row counts equal the archive's for the range and symbols, typed columns, both formats."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from observer.archive.compress import compress_hour
from observer.archive.reader import ArchiveReader
from observer.clock import KST
from observer.ops import export as export_mod
from observer.ops.export import ExportJob, schema_for
from observer.pipeline.record import Record, system_record

SYMBOLS = ("005930", "000660", "035420")
DAYS = (date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7))


def trade(symbol: str, when: datetime, n: int) -> Record:
    data: dict[str, Any] = {
        "trade_time": when.strftime("%H%M%S"),
        "price": 70_000 + n,
        "change_sign": "2",
        "change": 100,
        "change_rate": 0.14,
        "vwap": 70_010.5,
        "trade_volume": 10 + n,
        "acc_volume": 1000 * n,
        "halted": n % 7 == 0,
        "business_date": when.strftime("%Y%m%d"),
        "trade_ts": when.isoformat(),
    }
    return Record("scalp", "sim", "H0STCNT0", symbol, data, int(when.timestamp() * 1e9))


def write_archive(assets: Path) -> None:
    """Three days x three hours of trades; the first two days compressed; one torn line."""
    assets.mkdir(parents=True, exist_ok=True)
    seq = 0
    for day in DAYS:
        for hour in (9, 10, 11):
            start = datetime(day.year, day.month, day.day, hour, tzinfo=KST)
            lines = []
            for n in range(40 + hour):
                seq += 1
                record = trade(SYMBOLS[n % 3], start + timedelta(seconds=n * 30), n)
                record.seq = seq
                record.flags = ["stale", "off_session"] if n % 11 == 0 else []
                lines.append(record.to_line())
            path = assets / f"scalp_{day:%Y%m%d}_{hour:02d}.jsonl"
            path.write_bytes(b"".join(lines))
            if day != DAYS[-1]:
                compress_hour(path)
    with (assets / "scalp_20260107_10.jsonl").open("ab") as fh:
        fh.write(b"{not json}\n")


def archive_count(assets: Path, first: date, last: date, symbols: set[str] | None) -> int:
    count = 0
    for obj in ArchiveReader(assets).iter_records("scalp"):
        day = datetime.fromisoformat(obj["ts"]).date()
        if first <= day <= last and (symbols is None or obj["symbol"] in symbols):
            count += 1
    return count


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    path = tmp_path / "assets"
    write_archive(path)
    return path


@pytest.mark.parametrize(
    ("first", "last", "symbols"),
    [
        (DAYS[0], DAYS[2], None),
        (DAYS[1], DAYS[2], {"005930"}),
        (DAYS[0], DAYS[0], {"000660", "035420"}),
        (date(2025, 1, 1), date(2025, 12, 31), None),
    ],
)
def test_parquet_rows_equal_archive_rows(
    assets: Path, tmp_path: Path, first: date, last: date, symbols: set[str] | None
) -> None:
    out = tmp_path / "out" / "scalp.parquet"
    seen: list[int] = []
    summary = ExportJob(assets, "scalp", first, last, symbols, "parquet", out).run(seen.append)
    table = pq.read_table(out)
    expected = archive_count(assets, first, last, symbols)
    assert table.num_rows == summary.rows == expected
    assert table.schema == schema_for("scalp")
    if symbols:
        assert set(table.column("symbol").to_pylist()) <= symbols
    assert sum(seen) == sum(
        p.stat().st_size
        for p, _ in ExportJob(assets, "scalp", first, last, symbols, "parquet", out).files()
    )
    assert not list(out.parent.glob(".*.tmp"))


def test_columns_are_typed_and_values_exact(assets: Path, tmp_path: Path) -> None:
    out = tmp_path / "scalp.parquet"
    summary = ExportJob(assets, "scalp", DAYS[2], DAYS[2], None, "parquet", out).run()
    assert summary.skipped_lines == 1  # the torn line is counted, not exported
    table = pq.read_table(out)
    schema = table.schema
    assert schema.field("price").type == pa.int64()
    assert schema.field("change_rate").type == pa.float64()
    assert schema.field("halted").type == pa.bool_()
    assert schema.field("trade_ts").type == pa.timestamp("us", tz="Asia/Seoul")
    assert schema.field("ts").type == pa.timestamp("us", tz="Asia/Seoul")
    first = table.slice(0, 1).to_pylist()[0]
    when = datetime(2026, 1, 7, 9, tzinfo=KST)
    assert first["symbol"] == "005930" and first["price"] == 70_000 and first["halted"] is True
    assert first["trade_ts"] == when and first["ts"] == when
    assert first["recv_ns"] == int(when.timestamp() * 1e9)
    assert first["ask1"] is None  # a field the record does not carry is null
    seqs = table.column("seq").to_pylist()
    assert seqs == sorted(seqs)


def test_csv_export_and_mixed_types_are_coerced(assets: Path, tmp_path: Path) -> None:
    odd = trade("005930", datetime(2026, 1, 8, 9, tzinfo=KST), 1)
    odd.data["price"] = "71000"  # a string where an int belongs
    odd.data["trade_volume"] = "n/a"
    odd.seq = 10_000
    (assets / "scalp_20260108_09.jsonl").write_bytes(odd.to_line())
    out = tmp_path / "scalp.csv"
    summary = ExportJob(assets, "scalp", DAYS[0], date(2026, 1, 8), None, "csv", out).run()
    table = pacsv.read_csv(out)
    assert table.num_rows == summary.rows == archive_count(assets, DAYS[0], date(2026, 1, 8), None)
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    assert last["price"] == 71_000 and last["trade_volume"] is None


def test_batches_bound_memory(assets: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(export_mod, "BATCH_ROWS", 7)
    out = tmp_path / "scalp.parquet"
    summary = ExportJob(assets, "scalp", DAYS[0], DAYS[2], None, "parquet", out).run()
    assert pq.ParquetFile(out).metadata.num_row_groups == -(-summary.rows // 7)


def test_the_export_command(assets: Path, tmp_path: Path) -> None:
    home = assets.parent
    (home / "data").mkdir()
    assets.rename(home / "data" / "assets")
    out = tmp_path / "swing-and-scalp.parquet"
    env = {"OBSERVER_HOME": str(home), "PATH": "/usr/bin:/bin"}
    args = [sys.executable, "-m", "observer", "export", "--stream", "scalp"]
    args += ["--from", "2026-01-06", "--to", "2026-01-07", "--symbol", "005930", "--out", str(out)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(out).num_rows
    assert rows == archive_count(home / "data" / "assets", DAYS[1], DAYS[2], {"005930"}) > 0
    assert f"{rows:,} rows" in done.stdout


def test_the_arrow_and_the_python_paths_write_identical_tables(
    assets: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    fast = tmp_path / "fast.parquet"
    ExportJob(assets, "scalp", DAYS[0], DAYS[1], {"000660"}, "parquet", fast).run()

    def reject(_self: Any, _lines: list[bytes]) -> Any:
        raise pa.ArrowInvalid("forced")

    monkeypatch.setattr(ExportJob, "_convert_fast", reject)
    slow = tmp_path / "slow.parquet"
    ExportJob(assets, "scalp", DAYS[0], DAYS[1], {"000660"}, "parquet", slow).run()
    fast_table, slow_table = pq.read_table(fast), pq.read_table(slow)
    assert fast_table.num_rows > 0 and "stale,off_session" in fast_table.column("flags").to_pylist()
    assert fast_table.equals(slow_table)


def _export(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"OBSERVER_HOME": str(home), "PATH": "/usr/bin:/bin"}
    args = [sys.executable, "-m", "observer", "export", *extra]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)


def test_an_empty_range_exits_1_unless_allowed(assets: Path, tmp_path: Path) -> None:
    home = assets.parent
    (home / "data").mkdir()
    assets.rename(home / "data" / "assets")
    out = tmp_path / "empty.parquet"
    args = ("--stream", "scalp", "--from", "2025-01-01", "--to", "2025-01-31", "--out", str(out))
    refused = _export(home, *args)
    assert refused.returncode == 1
    assert "no scalp records from 2025-01-01 to 2025-01-31" in refused.stderr
    assert "Traceback" not in refused.stderr and not out.exists()
    # a symbol with no rows in a range that has files is empty too
    unknown = _export(home, "--stream", "scalp", "--from", "2026-01-05", "--to", "2026-01-05",
                      "--symbol", "999999", "--out", str(out))  # fmt: skip
    assert unknown.returncode == 1 and not out.exists()
    allowed = _export(home, *args, "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert pq.read_table(out).num_rows == 0


def test_scalp_keeps_enrichment_and_business_date_is_a_date(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    when = datetime(2026, 1, 5, 9, 30, tzinfo=KST)
    record = trade("005930", when, 1)
    record.data.update(market="KOSPI", session="regular", tick_size=100)
    record.seq = 1
    (assets / "scalp_20260105_09.jsonl").write_bytes(record.to_line())
    for fast in (True, False):
        out = tmp_path / f"enriched-{fast}.parquet"
        job = ExportJob(assets, "scalp", DAYS[0], DAYS[0], None, "parquet", out)
        if not fast:  # the line-by-line path must agree
            job._convert_fast = _refuse  # type: ignore[method-assign]
        job.run()
        table = pq.read_table(out)
        assert table.schema.field("business_date").type == pa.date32()
        row = table.to_pylist()[0]
        assert row["business_date"] == date(2026, 1, 5)
        assert (row["market"], row["session"], row["tick_size"]) == ("KOSPI", "regular", 100)


def _refuse(_lines: list[bytes]) -> pa.Table:
    raise pa.ArrowInvalid("take the slow path")


def test_gaps_are_exported(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    when = datetime(2026, 1, 5, 9, 30, tzinfo=KST)
    ns = int(when.timestamp() * 1e9)
    gap = system_record("gap", ns, "sim", symbol="005930", scope="symbol",
                        start=when.isoformat(), end=(when + timedelta(seconds=5)).isoformat(),
                        reason="acc_volume_jump", missed_volume=40, tr_id="H0STCNT0",
                        business_date="20260105")  # fmt: skip
    other = system_record("startup", ns, "sim", version="x")
    for seq, record in enumerate((other, gap), start=1):
        record.seq = seq
    (assets / "system_20260105_09.jsonl").write_bytes(other.to_line() + gap.to_line())
    out = tmp_path / "gaps.csv"
    summary = ExportJob(assets, "gaps", DAYS[0], DAYS[0], None, "csv", out).run()
    assert summary.rows == 1
    options = pacsv.ConvertOptions(column_types={"symbol": pa.string()})
    table = pacsv.read_csv(out, convert_options=options)
    row = table.to_pylist()[0]
    assert row["reason"] == "acc_volume_jump" and row["missed_volume"] == 40
    assert row["gap_tr_id"] == "H0STCNT0" and row["symbol"] == "005930"
    assert "event" not in table.column_names
