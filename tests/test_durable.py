"""Durable file replacement on a real filesystem: content, modes, and nothing left half-done."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from observer.durable import fsync_dir, replace_file, replacing, temp_name

# Starts replacing argv[1], writes half of the new content, says so and waits to be killed.
HALF_WRITTEN = """
import sys
from pathlib import Path
from observer.durable import replacing
with replacing(Path(sys.argv[1])) as out:
    out.write(b"half of the new")
    out.flush()
    print("written", flush=True)
    sys.stdin.read()
"""


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replace_file_writes_new_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    replace_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_replace_file_creates_a_missing_target(tmp_path: Path) -> None:
    target = tmp_path / "fresh.json"
    replace_file(target, b"{}")
    assert target.read_bytes() == b"{}"


def test_forced_mode_holds_whatever_the_umask_and_a_stale_temp(tmp_path: Path) -> None:
    target = tmp_path / "token.json"
    stale = temp_name(target, "42")
    stale.write_bytes(b"left by a crash")
    stale.chmod(0o644)
    old_umask = os.umask(0)
    try:
        replace_file(target, b"secret", mode=0o600, temp=stale)
    finally:
        os.umask(old_umask)
    assert mode_of(target) == 0o600
    assert target.read_bytes() == b"secret"
    assert not stale.exists()


def test_without_a_mode_the_umask_applies_as_for_open(tmp_path: Path) -> None:
    old_umask = os.umask(0o027)
    try:
        replace_file(tmp_path / "a", b"x")
        with (tmp_path / "b").open("wb") as fh:
            fh.write(b"x")
    finally:
        os.umask(old_umask)
    assert mode_of(tmp_path / "a") == mode_of(tmp_path / "b") == 0o640


def test_an_error_inside_the_block_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path,
) -> None:
    target = tmp_path / "backup.tar.zst"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="checksum"), replacing(target) as out:
        out.write(b"half of the new")
        assert temp_name(target).exists()
        raise ValueError("checksum differs")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar.zst"]


def test_a_process_killed_mid_replacement_leaves_the_old_file(tmp_path: Path) -> None:
    """A real SIGKILL half-way: the target is untouched; the next replacement takes over the
    temporary file the dead process left and leaves nothing else behind."""
    target = tmp_path / "universe.json"
    target.write_bytes(b"old")
    with subprocess.Popen(
        [sys.executable, "-c", HALF_WRITTEN, str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"written\n"
        assert temp_name(target).read_bytes() == b"half of the new"
        proc.kill()
        assert proc.wait(timeout=30) == -signal.SIGKILL
    assert target.read_bytes() == b"old"
    replace_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["universe.json"]


def test_a_full_filesystem_keeps_the_old_file_and_frees_the_temp(small_tmpfs: Path) -> None:
    """A real 64 KiB tmpfs filled by the new content: the write fails with ENOSPC, the old
    content stays, and no temporary file holds the space."""
    target = small_tmpfs / "backup.tar.zst"
    target.write_bytes(b"old")
    with pytest.raises(OSError) as caught:
        replace_file(target, b"x" * (256 << 10))
    assert caught.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["backup.tar.zst"]
    replace_file(target, b"new")  # the space came back
    assert target.read_bytes() == b"new"


def test_a_failed_rename_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_bytes(b"")  # a non-empty directory cannot be replaced
    with pytest.raises(OSError):
        replace_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_temp_name_is_hidden_next_to_the_target(tmp_path: Path) -> None:
    assert temp_name(tmp_path / "x.json") == tmp_path / ".x.json.tmp"
    assert temp_name(tmp_path / "x.json", "restore") == tmp_path / ".x.json.restore.tmp"


def test_fsync_dir_takes_a_directory_only(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "file")
