"""Compression of closed hours: verified .zst, manifest line, crash-safety at every step."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import zstandard

from observer.archive.compress import (
    CompressionStopped,
    compress_closed,
    compress_hour,
    read_manifest,
    verify_manifest,
)
from observer.archive.exceptions import ArchiveCompressionError, ArchiveManifestError

from .conftest import START, make_record

NOW = START + timedelta(hours=2, minutes=5)  # 11:05 KST: hours 09 and 10 are closed


def write_hour(assets: Path, name: str, n: int = 50) -> bytes:
    lines = []
    for i in range(1, n + 1):
        record = make_record("scalp", 1_767_571_200_000_000_000, i)
        record.seq = i
        lines.append(record.to_line())
    data = b"".join(lines)
    (assets / name).write_bytes(data)
    return data


def test_compress_closed_compresses_verifies_and_lists(assets: Path) -> None:
    content9 = write_hour(assets, "scalp_20260105_09.jsonl")
    write_hour(assets, "system_20260105_10.jsonl", 5)
    write_hour(assets, "scalp_20260105_11.jsonl")  # the current hour stays plain
    done = compress_closed(assets, NOW)
    assert done == ["scalp_20260105_09.jsonl.zst", "system_20260105_10.jsonl.zst"]
    names = sorted(p.name for p in assets.iterdir())
    assert names == [
        "manifest_20260105.sha256",
        "scalp_20260105_09.jsonl.zst",
        "scalp_20260105_11.jsonl",
        "system_20260105_10.jsonl.zst",
    ]
    zst = assets / "scalp_20260105_09.jsonl.zst"
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zst.read_bytes()) == content9
    listed = read_manifest(assets / "manifest_20260105.sha256")
    assert listed["scalp_20260105_09.jsonl.zst"] == hashlib.sha256(zst.read_bytes()).hexdigest()
    text = (assets / "manifest_20260105.sha256").read_text()
    assert (
        text.splitlines()[0]
        == f"{listed['scalp_20260105_09.jsonl.zst']}  scalp_20260105_09.jsonl.zst"
    )
    check = verify_manifest(assets, "20260105")
    assert check.passed and len(check.ok) == 2
    assert compress_closed(assets, NOW) == []  # idempotent


def test_tampered_zst_is_detected(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    compress_closed(assets, NOW)
    zst = assets / "scalp_20260105_09.jsonl.zst"
    data = bytearray(zst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    zst.write_bytes(bytes(data))
    check = verify_manifest(assets, datetime(2026, 1, 5).date())
    assert not check.passed
    assert check.mismatched == ["scalp_20260105_09.jsonl.zst"]


def test_missing_and_unlisted_files_are_reported(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    write_hour(assets, "swing_20260105_09.jsonl")
    compress_closed(assets, NOW)
    (assets / "scalp_20260105_09.jsonl.zst").unlink()
    manifest = assets / "manifest_20260105.sha256"
    manifest.write_text(
        "".join(line + "\n" for line in manifest.read_text().splitlines() if "swing" not in line)
    )
    check = verify_manifest(assets, "20260105")
    assert check.missing == ["scalp_20260105_09.jsonl.zst"]
    assert check.unlisted == ["swing_20260105_09.jsonl.zst"]


def test_leftover_temp_of_a_dead_run_is_removed_and_redone(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    leftover = assets / f"scalp_20260105_09.jsonl.zst.{dead_pid}-1.tmp"
    leftover.write_bytes(b"half a zstd frame")
    assert compress_closed(assets, NOW) == ["scalp_20260105_09.jsonl.zst"]
    assert not leftover.exists()
    assert verify_manifest(assets, "20260105").passed


def test_crash_after_rename_before_manifest_is_finished(assets: Path) -> None:
    content = write_hour(assets, "scalp_20260105_09.jsonl")
    zst = assets / "scalp_20260105_09.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor(level=3).compress(content))
    assert compress_closed(assets, NOW) == ["scalp_20260105_09.jsonl.zst"]
    assert not (assets / "scalp_20260105_09.jsonl").exists()
    assert verify_manifest(assets, "20260105").ok == ["scalp_20260105_09.jsonl.zst"]


def test_crash_after_manifest_before_delete_is_finished(assets: Path) -> None:
    content = write_hour(assets, "scalp_20260105_09.jsonl")
    compress_closed(assets, NOW)
    (assets / "scalp_20260105_09.jsonl").write_bytes(content)  # as if the delete never ran
    compress_closed(assets, NOW)
    assert not (assets / "scalp_20260105_09.jsonl").exists()
    assert len(read_manifest(assets / "manifest_20260105.sha256")) == 1
    lines = (assets / "manifest_20260105.sha256").read_text().splitlines()
    assert len(lines) == 1


def test_a_zst_that_does_not_match_its_plain_is_refused(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    (assets / "scalp_20260105_09.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(b"other content\n")
    )
    with pytest.raises(ArchiveCompressionError, match="differs"):
        compress_hour(assets / "scalp_20260105_09.jsonl")
    assert (assets / "scalp_20260105_09.jsonl").exists()  # the plain file is kept


def test_orphan_zst_without_manifest_line_gets_listed(assets: Path) -> None:
    content = write_hour(assets, "scalp_20260105_09.jsonl")
    (assets / "scalp_20260105_09.jsonl").unlink()
    (assets / "scalp_20260105_09.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(content)
    )
    compress_closed(assets, NOW)
    assert verify_manifest(assets, "20260105").passed


def test_stop_interrupts_and_removes_the_temp_file(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    stop = threading.Event()
    stop.set()
    with pytest.raises(CompressionStopped):
        compress_closed(assets, NOW, stop=stop)
    assert sorted(p.name for p in assets.iterdir()) == ["scalp_20260105_09.jsonl"]


def test_malformed_manifest_line_is_an_error(assets: Path) -> None:
    (assets / "manifest_20260105.sha256").write_text("nonsense\n")
    with pytest.raises(ArchiveManifestError, match="line 1"):
        verify_manifest(assets, "20260105")


def test_compress_hour_refuses_names_that_are_not_plain_hours(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("x")
    with pytest.raises(ArchiveCompressionError):
        compress_hour(path)
    assert os.path.exists(path)


def test_concurrent_runs_on_the_same_hour_agree(assets: Path) -> None:
    content = write_hour(assets, "scalp_20260105_09.jsonl", 3000)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(compress_hour(assets / "scalp_20260105_09.jsonl"))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert results == ["scalp_20260105_09.jsonl.zst"] * 4
    assert sorted(p.name for p in assets.iterdir()) == [
        "manifest_20260105.sha256",
        "scalp_20260105_09.jsonl.zst",
    ]
    assert verify_manifest(assets, "20260105").passed
    zst = (assets / "scalp_20260105_09.jsonl.zst").read_bytes()
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zst) == content


def test_a_torn_manifest_line_is_ignored_and_replaced(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    content10 = write_hour(assets, "scalp_20260105_10.jsonl")
    compress_hour(assets / "scalp_20260105_09.jsonl")
    # power loss while appending the 10 o'clock line, after its rename
    (assets / "scalp_20260105_10.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor(level=3).compress(content10)
    )
    manifest = assets / "manifest_20260105.sha256"
    with manifest.open("ab") as fh:
        fh.write(b"0123456789abcdef")
    assert set(read_manifest(manifest)) == {"scalp_20260105_09.jsonl.zst"}
    compress_closed(assets, NOW)
    check = verify_manifest(assets, "20260105")
    assert check.passed and len(check.ok) == 2
    assert len(manifest.read_text().splitlines()) == 2


def test_a_torn_manifest_line_is_cut_before_the_next_append(assets: Path) -> None:
    write_hour(assets, "scalp_20260105_09.jsonl")
    compress_closed(assets, NOW)
    manifest = assets / "manifest_20260105.sha256"
    whole = manifest.read_bytes()
    manifest.write_bytes(whole + b"0123456789abcdef  swing_2026")  # a crash mid-append
    write_hour(assets, "system_20260105_10.jsonl", 5)
    compress_closed(assets, NOW)
    text = manifest.read_bytes()
    assert text.startswith(whole) and text.endswith(b"  system_20260105_10.jsonl.zst\n")
    assert text.count(b"\n") == 2
    assert verify_manifest(assets, "20260105").passed
