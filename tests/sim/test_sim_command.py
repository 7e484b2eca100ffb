"""``observer sim`` as a real subprocess: prints its URLs, serves, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_sim_command_serves_and_stops_on_sigterm(home: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_"))},
        "OBSERVER_HOME": str(home),
        "OBSERVER_SIM_ISSUES": "20",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "observer", "sim", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        assert set(urls) == {"KIS_BASE_URL", "KIS_WS_URL", "KIS_MASTER_URL"}
        assert urls["KIS_WS_URL"].startswith("ws://127.0.0.1:")
        master = f"{urls['KIS_MASTER_URL']}/kospi_code.mst.zip"
        assert master.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(master) as answer:  # noqa: S310 - loopback http only
            assert answer.status == 200
            assert answer.read(2) == b"PK"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
