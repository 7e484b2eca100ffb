"""``observer verify pod`` for real: tmpfs volumes, a read-only root, a loopback service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from observer.cli.verify_cmd import verify_group
from observer.ops.verify.mountinfo import mount_of, parse_mountinfo
from observer.ops.verify.pod import MARKER_NAME, PodProbe, verify_pod
from observer.ops.verify.report import Report

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeService:
    """What the loopback service answers, changeable per test."""

    health: tuple[int, bytes] = (200, b'{"status":"ok","timestamp":"2026-01-05T09:00:00+09:00"}')
    ready: tuple[int, bytes] = (200, b'{"status":"ready"}')
    metrics: tuple[int, bytes] = (200, b"# HELP x\nobserver_market_open 1.0\n")
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def service() -> Iterator[tuple[FakeService, int]]:
    state = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            answers = {"/health": state.health, "/ready": state.ready, "/metrics": state.metrics}
            status, body = answers.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class Layout:
    """A pod-like tree under a temp dir: a root filesystem and volumes mounted as tmpfs."""

    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.root.mkdir()
        self.mounted: list[Path] = []
        self.mount(self.root)
        self.prefix = self.root / "opt" / "observer"

    def mount(self, path: Path, options: str = "size=4m") -> None:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"mounting tmpfs is not permitted here: {done.stderr.strip()}")
        self.mounted.append(path)

    def make_root_read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.root)], check=True)

    def path(self, name: str) -> Path:
        return self.prefix / name

    def unmount_all(self) -> None:
        for path in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    if os.geteuid() != 0:
        pytest.skip("mounting tmpfs needs root")
    built = Layout(tmp_path)
    yield built
    built.unmount_all()


def prepare(layout: Layout, *, mount_universe: bool = True, read_only_root: bool = True,
            starts: int | None = 2, jsonl_age: float | None = 10.0) -> None:  # fmt: skip
    """Volumes, directories, marker and archive as the service leaves them."""
    for name in ("data", "logs") + (("universe",) if mount_universe else ()):
        layout.mount(layout.path(name))
    for sub in ("data/assets", "data/cache", "logs/system", "logs/maintenance", "universe",
                "config"):  # fmt: skip
        layout.path(sub).mkdir(parents=True, exist_ok=True)
    (layout.path("config") / "holidays.yaml").write_text("[]\n")
    if starts is not None:
        marker = {"first_start": "2026-01-05T08:00:00+09:00", "last_start": "x", "starts": starts}
        (layout.path("data") / MARKER_NAME).write_text(json.dumps(marker))
    if jsonl_age is not None:
        jsonl = layout.path("data/assets/scalp_20260105_09.jsonl")
        jsonl.write_text('{"v":1}\n')
        stamp = time.time() - jsonl_age
        os.utime(jsonl, (stamp, stamp))
    if read_only_root:
        layout.make_root_read_only()


def environ(layout: Layout, port: int) -> dict[str, str]:
    paths = {
        "OBSERVER_DATA_DIR": "data",
        "OBSERVER_LOG_DIR": "logs",
        "OBSERVER_CONFIG_DIR": "config",
        "OBSERVER_SNAPSHOT_DIR": "universe",
        "OBSERVER_SYSTEM_LOG_DIR": "logs/system",
        "OBSERVER_MAINTENANCE_LOG_DIR": "logs/maintenance",
        "KIS_TOKEN_CACHE_DIR": "data/cache",
    }
    env = {alias: str(layout.path(sub)) for alias, sub in paths.items()}
    return {**env, "OBSERVER_DEPLOYMENT": "kubernetes", "OBSERVER_SOURCE": "sim",
            "SERVICE_PORT": str(port)}  # fmt: skip


def run(layout: Layout, port: int, **overrides: str) -> Report:
    probe = PodProbe(environ={**environ(layout, port), **overrides}, root=layout.root, timeout=5)
    return verify_pod(probe)


def by_check(report: Report) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for result in report.results:
        found.setdefault(result.check, []).append(f"{result.status} {result.detail}")
    return found


def test_a_healthy_pod_passes_every_check(layout: Layout, service: tuple[FakeService, int]) -> None:
    state, port = service
    prepare(layout)
    report = run(layout, port)
    assert report.failures() == [], report.lines()
    checks = by_check(report)
    assert len(checks["paths"]) == 7 and len(checks["mounts"]) == 3
    assert checks["rootfs"][0].startswith("PASS")
    assert checks["persistence"][0].startswith("PASS marker from the first start")
    assert checks["archive"][0].startswith("PASS scalp_20260105_09.jsonl written")
    assert checks["health"][0].startswith("PASS") and checks["ready"][0].startswith("PASS")
    assert {"/health", "/ready", "/metrics"} <= set(state.hits)
    assert report.exit_code == 0


def test_universe_on_the_read_only_root(layout: Layout, service: tuple[FakeService, int]) -> None:
    _state, port = service
    prepare(layout, mount_universe=False)
    universe = layout.path("universe")
    failed = [f"{r.check} {r.detail}" for r in run(layout, port).failures()]
    assert failed[0] == (
        f"paths OBSERVER_SNAPSHOT_DIR={universe} is not writable: Read-only file system"
    )
    assert failed[1].startswith(
        f"mounts OBSERVER_SNAPSHOT_DIR={universe} is on the root filesystem (tmpfs tmpfs at "
        f"{layout.root}); expected a volume of its own"
    )
    assert len(failed) == 2


def test_writable_root_stale_archive_and_failing_endpoints(
    layout: Layout, service: tuple[FakeService, int]
) -> None:
    state, port = service
    prepare(layout, read_only_root=False, starts=1, jsonl_age=900)
    state.ready = (503, b'{"status":"not ready","failing":["archive"]}')
    state.health = (200, b'{"status":"ok"}')
    checks = by_check(run(layout, port))
    assert checks["rootfs"] == [
        f"FAIL {layout.root} is writable (tmpfs tmpfs at {layout.root}); "
        "expected readOnlyRootFilesystem: true"
    ]
    assert checks["persistence"][0].startswith("SKIP only one start recorded so far")
    assert checks["archive"] == [
        "FAIL market open but the newest JSONL scalp_20260105_09.jsonl is 900 s old; "
        "expected a write within 300 s"
    ]
    assert checks["health"][0].startswith(f"FAIL http://127.0.0.1:{port}/health answered 200")
    assert checks["ready"][0].startswith(f"FAIL http://127.0.0.1:{port}/ready answered 503")


def test_missing_marker_closed_market_and_no_service(layout: Layout) -> None:
    prepare(layout, starts=None, jsonl_age=None)
    with socket_port() as port:
        checks = by_check(run(layout, port))
    assert checks["persistence"][0].startswith(
        f"FAIL {layout.path('data') / MARKER_NAME} is missing"
    )
    assert checks["archive"][0].startswith("SKIP market state unknown (/metrics: ConnectionRefused")
    assert checks["health"][0].startswith("FAIL") and checks["ready"][0].startswith("FAIL")


def test_closed_market_skips_the_freshness_check(
    layout: Layout, service: tuple[FakeService, int]
) -> None:
    state, port = service
    state.metrics = (200, b"observer_market_open 0.0\n")
    prepare(layout, jsonl_age=None)
    checks = by_check(run(layout, port))
    assert checks["archive"] == [
        "SKIP market closed (observer_market_open is not 1): no fresh JSONL expected"
    ]


def test_incomplete_environment_names_each_variable(tmp_path: Path) -> None:
    env = {"OBSERVER_DEPLOYMENT": "kubernetes", "OBSERVER_SOURCE": "sim",
           "OBSERVER_DATA_DIR": str(tmp_path)}  # fmt: skip
    report = verify_pod(PodProbe(environ=env))
    failed = [r.detail for r in report.failures()]
    assert len(failed) == 6
    assert any(d.startswith("OBSERVER_SNAPSHOT_DIR: required in Kubernetes") for d in failed)
    assert report.results[-1].status == "SKIP"


class socket_port:
    """A loopback port nobody listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


def test_mountinfo_parsing_and_lookup() -> None:
    text = (
        "22 1 0:21 / / ro,relatime - overlay overlay rw,lowerdir=/a\n"
        "30 22 8:1 /pvc-1 /opt/data rw,relatime - ext4 /dev/sda1 rw\n"
        "31 30 0:5 / /opt/data/with\\040space rw - tmpfs tmpfs rw\n"
        "32 22 0:6 / /opt/ro ro - tmpfs tmpfs rw\n"
    )
    entries = parse_mountinfo(text)
    assert [e.mount_point for e in entries][2] == "/opt/data/with space"
    assert entries[0].read_only and not entries[1].read_only and entries[3].read_only
    assert mount_of(Path("/opt/data/assets/x.jsonl"), entries) == entries[1]
    assert mount_of(Path("/opt/data/with space/y"), entries) == entries[2]
    assert mount_of(Path("/opt/logs"), entries) == entries[0]


def test_marker_name_matches_the_service() -> None:
    source = (REPO / "src/observer/service.py").read_text()
    assert re.search(rf'MARKER_NAME = "{re.escape(MARKER_NAME)}"', source)


def test_cli_pod_command_exit_code(layout: Layout, service: tuple[FakeService, int]) -> None:
    _state, port = service
    prepare(layout, read_only_root=False)
    env_file = layout.prefix.parent.parent.parent / "pod.env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in environ(layout, port).items()))
    result = CliRunner().invoke(
        verify_group, ["pod", "--env-file", str(env_file), "--root", str(layout.root), "--json"]
    )
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert [c["check"] for c in body["checks"] if c["status"] == "FAIL"] == ["rootfs"]


def test_a_fresh_system_file_alone_is_not_fresh_market_data(
    layout: Layout, service: tuple[FakeService, int]
) -> None:
    _state, port = service
    prepare(layout, jsonl_age=None)
    (layout.path("data/assets") / "system_20260105_09.jsonl").write_text('{"v":1}\n')
    checks = by_check(run(layout, port))
    assert checks["archive"] == [
        f"FAIL market open but no scalp or swing JSONL file in {layout.path('data/assets')} "
        "(system records alone do not count)"
    ]
    stale = layout.path("data/assets/swing_20260105_09.jsonl")
    stale.write_text('{"v":1}\n')
    stamp = time.time() - 900
    os.utime(stale, (stamp, stamp))
    checks = by_check(run(layout, port))
    assert checks["archive"][0].startswith("FAIL market open but the newest JSONL swing_")
