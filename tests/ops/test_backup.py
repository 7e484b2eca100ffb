"""Backups through the real restic binary and a local repository directory: create, list,
verify, restore; a corrupted repository is flagged; a restore never half-applies."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from observer.clock import KST, ManualClock
from observer.metrics import Metrics
from observer.ops.backup import BackupStore
from observer.ops.exceptions import BackupError, BackupVerifyError, RestoreConflictError

NOW = datetime(2026, 1, 5, 18, 30, tzinfo=KST)
pytestmark = pytest.mark.skipif(
    shutil.which("restic") is None, reason="restic not installed (scripts/install-test-tools.sh)"
)


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
def settings(make_settings: Any, tmp_path: Path) -> Any:
    return make_settings(
        OBSERVER_BACKUP_REPOSITORY=str(tmp_path / "repository"),
        OBSERVER_BACKUP_PASSWORD="test-only-password",
        OBSERVER_BACKUP_CHECK_SUBSET="100%",
    )


@pytest.fixture
def store(settings: Any) -> BackupStore:
    return BackupStore(settings, ManualClock(NOW), Metrics())


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_create_list_verify_restore_round_trip(store: BackupStore, tmp_path: Path) -> None:
    expected = populate(store.settings)
    metrics = store.metrics
    assert metrics is not None
    info = store.create()
    assert info.files == len(expected)
    assert info.size == sum(len(b) for b in expected.values())
    assert metrics.backup_last_success._value.get() == pytest.approx(NOW.timestamp())
    listed = store.list()
    assert [i.snapshot for i in listed] == [info.snapshot]
    assert store.verify(info.snapshot).files == len(expected)
    report = store.restore(info.snapshot, tmp_path / "out")
    assert tree(tmp_path / "out") == expected
    assert len(report.written) == len(expected)
    assert not (tmp_path / "out" / ".observer-restore-staging").exists()


def test_the_second_backup_is_incremental(store: BackupStore, tmp_path: Path) -> None:
    populate(store.settings)
    first = store.create()
    (store.settings.assets_dir / "scalp_20260105_11.jsonl.zst").write_bytes(b"new hour")
    second = store.create()
    assert second.snapshot != first.snapshot
    assert second.files == first.files + 1
    repo = tmp_path / "repository" / "data"
    packs = [p for p in repo.rglob("*") if p.is_file()]
    # The unchanged 300 kB of random bytes were not stored a second time.
    assert sum(p.stat().st_size for p in packs) < 2 * 300_000


def test_restore_refuses_differing_files_unless_forced(store: BackupStore, tmp_path: Path) -> None:
    expected = populate(store.settings)
    info = store.create()
    out = tmp_path / "out"
    (out / "assets").mkdir(parents=True)
    (out / "assets" / "scalp_20260105_09.jsonl.zst").write_bytes(b"different")
    with pytest.raises(RestoreConflictError) as caught:
        store.restore(info.snapshot, out)
    assert [p.name for p in caught.value.conflicts] == ["scalp_20260105_09.jsonl.zst"]
    assert tree(out) == {"assets/scalp_20260105_09.jsonl.zst": b"different"}  # nothing moved
    report = store.restore(info.snapshot, out, force=True)
    assert tree(out) == expected
    assert [p.name for p in report.overwritten] == ["scalp_20260105_09.jsonl.zst"]
    again = store.restore("latest", out)
    assert not again.written and len(again.skipped) == len(expected)


def test_restore_into_the_configured_directories(store: BackupStore) -> None:
    expected = populate(store.settings)
    info = store.create()
    lost = store.settings.assets_dir / "swing_20260105_09.jsonl.zst"
    lost.unlink()
    report = store.restore(info.snapshot)
    assert [p.name for p in report.written] == [lost.name]
    assert lost.read_bytes() == expected["assets/swing_20260105_09.jsonl.zst"]
    assert (store.settings.assets_dir / "scalp_20260105_10.jsonl").read_bytes() == b'{"seq":2}\n'


def _corrupt_packs(repository: Path) -> None:
    for pack in (repository / "data").rglob("*"):
        if pack.is_file():
            raw = bytearray(pack.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            pack.chmod(0o644)
            pack.write_bytes(bytes(raw))


def test_a_corrupted_repository_fails_verify_and_the_restore_changes_nothing(
    store: BackupStore, tmp_path: Path
) -> None:
    populate(store.settings)
    info = store.create()
    _corrupt_packs(tmp_path / "repository")
    with pytest.raises(BackupVerifyError):
        store.verify(info.snapshot)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_bytes(b"mine")
    with pytest.raises(BackupError):
        store.restore(info.snapshot, out)
    assert tree(out) == {"keep.txt": b"mine"}  # neither half a restore nor staging left


def test_an_unknown_snapshot_and_a_missing_repository_are_errors(
    make_settings: Any, store: BackupStore
) -> None:
    populate(store.settings)
    store.create()
    with pytest.raises(BackupError, match="no such snapshot"):
        store.restore("ffffffff")
    bare = BackupStore(make_settings(), ManualClock(NOW))
    with pytest.raises(BackupError, match="OBSERVER_BACKUP_REPOSITORY"):
        bare.create()


def test_the_password_never_reaches_an_error_message(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(
        OBSERVER_BACKUP_REPOSITORY=str(tmp_path / "repository"),
        OBSERVER_BACKUP_PASSWORD="first-password",
    )
    populate(settings)
    BackupStore(settings, ManualClock(NOW)).create()
    wrong = make_settings(
        OBSERVER_BACKUP_REPOSITORY=str(tmp_path / "repository"),
        OBSERVER_BACKUP_PASSWORD="second-secret-word",
    )
    with pytest.raises(BackupError) as caught:
        BackupStore(wrong, ManualClock(NOW)).list()
    assert "second-secret-word" not in str(caught.value)
    assert str(tmp_path / "repository") not in str(caught.value)
