"""`verify pod` names the holder of the data directory's lock, and fails on a second pod."""

from __future__ import annotations

import socket
from pathlib import Path

from observer.archive.lock import DataDirLock
from observer.config.settings import settings_for_tests
from observer.ops.verify.pod import check_writer_lock
from observer.ops.verify.report import Report


def test_lock_held_here_passes_and_elsewhere_fails(home: Path) -> None:
    settings = settings_for_tests(home)
    report = Report("verify pod")
    check_writer_lock(settings, socket.gethostname(), report)
    assert [r.status for r in report.results] == ["SKIP"]
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        here, there = Report("verify pod"), Report("verify pod")
        check_writer_lock(settings, socket.gethostname(), here)
        check_writer_lock(settings, "observer-7d9f-other", there)
    finally:
        lock.release()
    assert here.failures() == [] and "held by pid" in here.results[0].detail
    assert [f.check for f in there.failures()] == ["lock"]
    assert "a second pod shares the data volume" in there.failures()[0].detail
