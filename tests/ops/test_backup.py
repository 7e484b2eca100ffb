"""Backups: create, list, verify, restore round trip; tampering detected; conflicts refused."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from observer.clock import KST, ManualClock
from observer.metrics import Metrics
from observer.ops import backup as backup_mod
from observer.ops.backup import MANIFEST_MEMBER, BackupStore
from observer.ops.exceptions import BackupError, BackupVerifyError, RestoreConflictError

NOW = datetime(2026, 1, 5, 18, 30, tzinfo=KST)


def populate(settings: Any) -> dict[str, bytes]:
    """Closed and open archive files plus snapshots; returns what a backup must contain."""
    a = settings.assets_dir
    a.mkdir(parents=True, exist_ok=True)
    settings.snapshot_dir.mkdir(parents=True, exist_ok=True)
    zst = zstandard.ZstdCompressor()
    expected = {
        "assets/scalp_20260105_09.jsonl.zst": zst.compress(b'{"seq":1}\n' * 5000),
        "assets/swing_20260105_09.jsonl.zst": zst.compress(os.urandom(300_000)),
        "assets/manifest_20260105.sha256": b"abc  scalp_20260105_09.jsonl.zst\n",
        "universe/20260105_universe.json": b'{"symbols":["005930"]}',
        "universe/2026/extra_20260104.json": b"{}",
    }
    for name, body in expected.items():
        root = a if name.startswith("assets/") else settings.snapshot_dir
        path = root / name.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    (a / "scalp_20260105_10.jsonl").write_bytes(b'{"seq":2}\n')  # open hour: not taken
    (a / ".observer-write-probe").write_bytes(b"")
    (settings.snapshot_dir / ".universe.json.tmp").write_bytes(b"partial")
    return expected


@pytest.fixture
def store(make_settings: Any) -> BackupStore:
    return BackupStore(make_settings(), ManualClock(NOW), Metrics())


def members(path: Path) -> dict[str, bytes]:
    with path.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            out = {}
            for member in tar:
                fh = tar.extractfile(member)
                assert fh is not None
                out[member.name] = fh.read()
    return out


def test_create_list_verify_restore_round_trip(store: BackupStore, tmp_path: Path) -> None:
    settings = store._s
    expected = populate(settings)
    metrics = store._metrics
    info = store.create()

    assert info.path.name == "observer-backup-20260105T183000.tar.zst"
    assert info.path.parent == settings.backup_dir
    assert sorted(e.path for e in info.files) == sorted(expected)
    assert [p.name for p in settings.backup_dir.iterdir()] == [info.path.name]  # no temp left
    content = members(info.path)
    assert next(iter(content)) == MANIFEST_MEMBER
    assert {k: v for k, v in content.items() if k != MANIFEST_MEMBER} == expected
    for entry in info.files:
        assert entry.sha256 == hashlib.sha256(expected[entry.path]).hexdigest()
    assert metrics is not None and metrics.backup_last_success._value.get() == NOW.timestamp()

    listed = store.list()
    assert [b.path for b in listed] == [info.path] and len(listed[0].files) == len(expected)
    assert len(store.verify(info.path).files) == len(expected)

    target = tmp_path / "restore"
    report = store.restore(info.path, target)
    assert len(report.written) == len(expected) and report.skipped == []
    for name, body in expected.items():
        assert (target / name).read_bytes() == body
    assert not list(target.rglob("*.tmp"))

    again = store.restore(info.path, target)  # identical files are skipped
    assert again.written == [] and len(again.skipped) == len(expected)


def test_restore_refuses_differing_files_unless_forced(store: BackupStore, tmp_path: Path) -> None:
    expected = populate(store._s)
    info = store.create()
    target = tmp_path / "restore"
    changed = target / "assets" / "manifest_20260105.sha256"
    changed.parent.mkdir(parents=True)
    changed.write_bytes(b"different\n")

    with pytest.raises(RestoreConflictError) as err:
        store.restore(info.path, target)
    assert err.value.conflicts == [changed]
    assert changed.read_bytes() == b"different\n"
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == [changed.name]  # nothing

    report = store.restore(info.path, target, force=True)
    assert report.overwritten == [changed]
    assert changed.read_bytes() == expected["assets/manifest_20260105.sha256"]


def test_restore_into_the_configured_directories(store: BackupStore) -> None:
    settings = store._s
    expected = populate(settings)
    info = store.create()
    lost = settings.assets_dir / "scalp_20260105_09.jsonl.zst"
    lost.unlink()
    report = store.restore(info.path)
    assert report.written == [lost]
    assert lost.read_bytes() == expected["assets/scalp_20260105_09.jsonl.zst"]


def rewrite(path: Path, change: dict[str, bytes]) -> None:
    """Rebuild the backup keeping its manifest but with some members' content replaced."""
    content = members(path)
    raw = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(raw, closefd=False) as zst:
        with tarfile.open(fileobj=zst, mode="w|") as tar:
            for name, body in content.items():
                body = change.get(name, body)
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    path.write_bytes(raw.getvalue())


def test_a_tampered_member_is_detected_by_verify_and_restore(
    store: BackupStore, tmp_path: Path
) -> None:
    populate(store._s)
    info = store.create()
    rewrite(info.path, {"universe/20260105_universe.json": b'{"symbols":["000660"]}'})

    with pytest.raises(BackupVerifyError) as err:
        store.verify(info.path)
    assert err.value.problems == [
        "universe/20260105_universe.json: content differs from the manifest"
    ]
    with pytest.raises(BackupVerifyError):
        store.restore(info.path, tmp_path / "restore")
    assert not (tmp_path / "restore" / "universe" / "20260105_universe.json").exists()


def test_a_corrupted_or_truncated_backup_fails_verification(store: BackupStore) -> None:
    populate(store._s)
    info = store.create()
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    info.path.write_bytes(bytes(data))
    with pytest.raises(BackupError):
        store.verify(info.path)
    info.path.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(BackupError):
        store.verify(info.path)


def test_an_empty_archive_still_makes_a_valid_backup(store: BackupStore) -> None:
    info = store.create()
    assert info.files == []
    store.verify(info.path)
    second = store.create()  # same second: a distinct name, never an overwrite
    assert second.path != info.path and len(store.list()) == 2


def test_a_file_changing_during_the_backup_restarts_it(
    store: BackupStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(store._s)
    real = backup_mod.sha256_file
    calls = {"n": 0}

    def first_hash_stale(path: Path) -> str:
        calls["n"] += 1
        return "0" * 64 if calls["n"] == 1 else real(path)  # as if the file changed after

    monkeypatch.setattr(backup_mod, "sha256_file", first_hash_stale)
    info = store.create()
    store.verify(info.path)
    assert [p.name for p in store.directory.iterdir()] == [info.path.name]  # no partial left

    monkeypatch.setattr(backup_mod, "sha256_file", lambda _path: "0" * 64)
    with pytest.raises(BackupError, match="kept changing"):
        store.create()
    assert len(list(store.directory.iterdir())) == 1
