"""Start ``observer run`` as a real subprocess for tests, and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

OBSERVER = [sys.executable, "-m", "observer"]


# Minutes of a regular session in seconds: sweeps every clock minute, slots from the triggers,
# the simulator drops every WebSocket connection each 150 clock seconds (a disconnect gap).
SIMULATED_SESSION = {
    "OBSERVER_CLOCK_START": "2026-01-05T09:05:00+09:00",
    "OBSERVER_CLOCK_SPEED": "30",
    "OBSERVER_SWING_INTERVAL_SECONDS": "60",
    "OBSERVER_SIM_ISSUES": "300",
    "OBSERVER_SCALP_MAX_SLOTS": "6",
    "OBSERVER_SCALP_MIN_DWELL_SECONDS": "120",
    "OBSERVER_SIM_DROP_WS_SECONDS": "150",
    "OBSERVER_WS_SILENCE_SECONDS": "600",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """A clean environment for a service rooted at ``home`` (no OBSERVER_* from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_", "DB_"))}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.update(
        {
            "OBSERVER_HOME": str(home),
            "SERVICE_PORT": str(port),
            "OBSERVER_LOADER_ENABLED": "0",
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    """GET ``url``; returns (status, parsed JSON or text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
            body = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as err:
        body = err.read().decode()
        status = err.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


class ServiceProcess:
    """``observer run`` in a subprocess; output goes to a log file for post-mortems."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.port = free_port()
        self.env = base_env(home, self.port, **env)
        self.log_path = home / "service-stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*OBSERVER, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_for(lambda: self.health_ok(), timeout, "the service answering /health")
        if wait_ready:
            self.wait_for(lambda: get(self.url + "/ready")[0] == 200, timeout, "/ready 200")
        return self

    def health_ok(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return get(self.url + "/health", timeout=1.0)[0] == 200
        except OSError:
            return False

    def wait_for(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
