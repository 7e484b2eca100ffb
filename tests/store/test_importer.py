"""Import of archive files and the earlier system's JSONL: exact counts, idempotent re-runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import zstandard

from observer.config.settings import Settings
from observer.store.exceptions import DatabaseUnavailableError, StoreError
from observer.store.importer import ArchiveImporter
from observer.store.migrations import migrate
from tests.pg import PgServer, db_overrides
from tests.store.proxy import CuttableProxy
from tests.store.samples import OPEN_NS, gap, quote, scalp_series
from tests.store.test_loader import _cli_env

pytestmark = pytest.mark.db


def _scalp(ts: str, symbol: str, hhmmss: str, price: int, acc: int, **extra: Any) -> bytes:
    obj = {
        "timestamp": ts, "symbol": symbol, "execution_time": hhmmss,
        "price": {"current": price, "open": 70000, "high": 71000, "low": 69000,
                  "change_rate": 1.25},
        "volume": {"accumulated": acc, "trade_value": acc * price},
        "bid_ask": {"ask_price": price + 100, "bid_price": price},
        "source": "kis", "session_id": "20260105_regular", **extra,
    }  # fmt: skip
    return orjson.dumps(obj)


def _swing(ts: str, symbol: str, close: int, volume: int) -> bytes:
    obj = {
        "ts": ts, "session": "regular", "dataset": "track_a_swing", "market": "KOSPI",
        "symbol": symbol, "price": {"open": 70000, "high": 71000, "low": 69000, "close": close},
        "volume": volume, "bid_price": close - 100, "ask_price": close, "source": "kis",
    }  # fmt: skip
    return orjson.dumps(obj)


def _legacy_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    scalp = [
        _scalp("2026-01-05T09:00:01.100000+09:00", "005930", "090001", 70100, 100),
        _scalp("2026-01-05T09:00:02.200000+09:00", "005930", "090002", 70200, 150),
        _scalp("2026-01-05T09:00:02.200000+09:00", "005930", "090002", 70200, 150),  # duplicate
        _scalp("2026-01-05T09:00:03.300000+09:00", "005930", "090003", 70000, 180),
        _scalp("2026-01-05T09:00:03.500000", "000660", "090003", 120000, 10),  # naive = KST
        b'{"timestamp": "2026-01-05T09:00:04+09:00", "symbol": "005930", ',  # malformed
        b'{"hello": "world"}',  # unknown format
        _scalp("2026-01-05T09:00:05+09:00", "005930", "9:00", 70000, 190),  # bad time
        _scalp("2026-01-05T09:00:06+09:00", "005930", "090006", 70000, 200)[:-7],  # torn tail
    ]
    swing = [
        _swing("2026-01-05T09:05:00.000001+09:00", "005930", 70100, 1000),
        _swing("2026-01-05T09:10:00.000001+09:00", "005930", 70300, 2500),
        _swing("2026-01-05T09:10:00.000001+09:00", "005930", 70300, 2500),  # duplicate
        b"[1, 2, 3]",  # not an object
    ]
    a = folder / "scalp_legacy.jsonl"
    a.write_bytes(b"\n".join(scalp))  # the last (torn) line has no newline
    b = folder / "swing_legacy.jsonl"
    b.write_bytes(b"\n".join(swing) + b"\n")
    return [a, b]


async def _fetch(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def test_legacy_import_exact_counts_and_rerun(
    db_settings: Settings, pg_dsn: str, tmp_path: Path
) -> None:
    files = _legacy_files(tmp_path / "legacy")
    rejects = tmp_path / "rejects.jsonl"
    first = await ArchiveImporter(db_settings, rejects_path=rejects).run([tmp_path / "legacy"])
    assert first.files == 2
    assert first.lines == 13
    assert first.loaded["ticks"] == 4
    assert first.loaded["quotes"] == 2
    assert first.duplicates == 2
    assert first.rejected == {
        "bad_json": 1,
        "unknown_format": 1,
        "legacy_bad_execution_time": 1,
        "truncated_line": 1,
        "not_an_object": 1,
    }
    assert first.rejects_file == rejects and not first.all_rejected
    written = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert sorted(w["reason"] for w in written) == sorted(first.rejected)
    assert next(w["line"] for w in written if w["reason"] == "not_an_object") == "[1, 2, 3]"
    again = await ArchiveImporter(db_settings).run(files)
    assert again.loaded_lines == 0
    assert again.duplicates == 8
    assert sum(again.rejected.values()) == 5

    ticks = await _fetch(
        pg_dsn,
        "SELECT symbol, trade_volume, trade_ts, mitigation_level, session_id, tr_id "
        "FROM ticks ORDER BY symbol DESC, acc_volume",
    )
    assert [(t["symbol"], t["trade_volume"]) for t in ticks] == [
        ("005930", None), ("005930", 50), ("005930", 30), ("000660", None),
    ]  # fmt: skip
    assert all(t["mitigation_level"] == 2 and t["tr_id"] == "H0STCNT0" for t in ticks)
    assert ticks[0]["session_id"] == "20260105_regular"
    assert ticks[0]["trade_ts"].isoformat() == "2026-01-05T00:00:01+00:00"
    quotes = await _fetch(pg_dsn, "SELECT price, acc_volume, session_id FROM quotes ORDER BY 1")
    assert [(q["price"], q["acc_volume"]) for q in quotes] == [(70100, 1000), (70300, 2500)]
    assert quotes[0]["session_id"] == "20260105_regular"


async def test_archive_import_plain_and_zst(
    db_settings: Settings, pg_dsn: str, tmp_path: Path
) -> None:
    records = scalp_series(3, 10)
    records.append(quote("005930", OPEN_NS, 70000, 10, OPEN_NS + 1))
    records.append(gap("100000", OPEN_NS, OPEN_NS + 5 * 10**9, OPEN_NS + 6 * 10**9))
    for seq, rec in enumerate(records, 1):
        rec.seq = seq
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "scalp_20260105_09.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(b"".join(r.to_line() for r in records[:15]))
    )
    (folder / "mixed_20260105_09.jsonl").write_bytes(b"".join(r.to_line() for r in records[15:]))
    (folder / "notes.txt").write_text("ignored: not a .jsonl file")
    summary = await ArchiveImporter(db_settings).run([folder])
    assert summary.files == 2
    assert summary.lines == 32
    assert summary.loaded["ticks"] == 30
    assert summary.loaded["quotes"] == 1
    assert summary.loaded["system_events"] == 1
    assert summary.loaded["gaps"] == 1
    assert summary.duplicates == 0
    again = await ArchiveImporter(db_settings).run([folder])
    assert (again.loaded_lines, again.duplicates) == (0, 32)


def test_cli_import_prints_summary(db_settings: Settings, home: Path, tmp_path: Path) -> None:
    _legacy_files(tmp_path / "legacy")
    result = subprocess.run(
        [sys.executable, "-m", "observer", "import", str(tmp_path / "legacy")],
        env=_cli_env(home, db_settings),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # the rejects file goes to the current directory
    )
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("import-rejects-*.jsonl"))) == 1
    assert "13 lines: loaded 6 (ticks 4, quotes 2), duplicates 2, rejected 5" in result.stdout
    assert "rejected bad_json: 1" in result.stdout


def test_cli_import_of_only_rejected_lines_fails_and_names_the_rejects_file(
    db_settings: Settings, home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'not json\n{"neither": "archive nor legacy"}\n[1]\n')
    result = subprocess.run(
        [sys.executable, "-m", "observer", "import", str(bad)],
        env=_cli_env(home, db_settings),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 lines: loaded 0, duplicates 0, rejected 3" in result.stdout
    named = [
        line for line in result.stdout.splitlines() if "rejected lines with their reasons" in line
    ]
    assert len(named) == 1
    path = tmp_path / named[0].rsplit(": ", 1)[1]
    written = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [(w["line"], w["reason"]) for w in written] == [
        ("not json", "bad_json"),
        ('{"neither": "archive nor legacy"}', "unknown_format"),
        ("[1]", "not_an_object"),
    ]


async def test_a_row_the_server_refuses_is_a_reject_in_the_file_not_a_duplicate(
    db_settings: Settings, tmp_path: Path
) -> None:
    records = scalp_series(2, 5)
    records[3].data["trade_side"] = "1\x00"  # PostgreSQL text cannot hold a NUL byte
    for seq, rec in enumerate(records, 1):
        rec.seq = seq
    path = tmp_path / "scalp_20260105_09.jsonl"
    path.write_bytes(b"".join(r.to_line() for r in records))
    rejects = tmp_path / "rejects.jsonl"
    summary = await ArchiveImporter(db_settings, rejects_path=rejects).run([path])
    assert (summary.lines, summary.loaded["ticks"], summary.duplicates) == (10, 9, 0)
    assert summary.rejected == {"refused_ticks": 1}
    (written,) = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert written["reason"].startswith("refused_ticks: ") and "1\x00" in written["row"]


async def test_an_unwritable_rejects_file_is_a_store_error(
    db_settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json\n")
    importer = ArchiveImporter(db_settings, rejects_path=tmp_path / "missing" / "rejects.jsonl")
    with pytest.raises(StoreError, match="cannot write the rejects file"):
        await importer.run([bad])


async def test_a_stalled_database_fails_the_import_within_the_statement_timeout(
    make_settings: Any, pg_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    """The network stops forwarding in the middle of an import: the importer's statements are
    bounded like the loader's, so the import fails as 'database unavailable' instead of
    waiting for ever."""
    proxy = CuttableProxy(pg_server.host, pg_server.port)
    await proxy.start()
    overrides = db_overrides(pg_server, pg_database)
    overrides.update(
        DB_HOST="127.0.0.1", DB_PORT=proxy.port, OBSERVER_LOADER_BATCH_ROWS=10,
        OBSERVER_DB_TIMEOUT_SECONDS=1,
    )  # fmt: skip
    settings = make_settings(**overrides)
    await migrate(settings)
    records = scalp_series(3, 10)
    for seq, rec in enumerate(records, 1):
        rec.seq = seq
    archive = tmp_path / "scalp_20260105_09.jsonl"
    archive.write_bytes(b"".join(r.to_line() for r in records))
    importer = ArchiveImporter(settings, progress=lambda _: proxy.stall())
    try:
        with pytest.raises(DatabaseUnavailableError):
            await asyncio.wait_for(importer.run([archive]), 10)
    finally:
        proxy.resume()
        await proxy.stop()
    (row,) = await _fetch(pg_server.dsn(pg_database), "SELECT count(*) FROM ticks")
    assert row[0] == 10  # the batch before the stall
