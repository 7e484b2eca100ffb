"""``observer verify pod``: the deployment checklist, run inside the pod.

Environment complete, each path present and writable, data/logs/universe on their own
mounts (not the root filesystem), the root filesystem read-only, the persistence marker from
an earlier start, fresh JSONL while the market is open, ``/health`` and ``/ready`` answering.
"""

from __future__ import annotations

import http.client
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from observer.archive.files import scan
from observer.archive.lock import current_holder
from observer.config.exceptions import ConfigError
from observer.config.paths import PATH_VARS
from observer.config.settings import Settings, load_settings
from observer.ops.verify.mountinfo import MountEntry, mount_of, read_mountinfo
from observer.ops.verify.report import Report

# Written by the service at every start (observer.service.MARKER_NAME; a test keeps them equal).
MARKER_NAME = ".observer-persistence-marker"
OWN_MOUNT_PATHS = ("OBSERVER_DATA_DIR", "OBSERVER_LOG_DIR", "OBSERVER_SNAPSHOT_DIR")
FRESH_JSONL_SECONDS = 300
# Market data: trades (scalp) and quotes (swing). The system stream writes even when no market
# data arrives (gaps, reconnects), so a fresh system file proves nothing.
MARKET_STREAMS = ("scalp", "swing")


@dataclass(frozen=True)
class HttpAnswer:
    """Status and body of one GET, or the reason it failed."""

    status: int | None
    body: bytes
    error: str | None = None


def http_get(host: str, port: int, path: str, timeout: float) -> HttpAnswer:
    """GET http://host:port/path with a timeout; never raises."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return HttpAnswer(response.status, response.read())
    except (OSError, http.client.HTTPException) as exc:
        return HttpAnswer(None, b"", f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


@dataclass
class PodProbe:
    """Where verify pod looks: injectable so tests can point it at a prepared layout."""

    environ: Mapping[str, str] | None = None  # None: the process environment
    env_file: str | None = None
    mountinfo: Path = Path("/proc/self/mountinfo")
    root: Path = Path("/")
    host: str = "127.0.0.1"
    timeout: float = 5.0
    now: Callable[[], float] = time.time


def verify_pod(probe: PodProbe) -> Report:
    """Run every in-pod check."""
    report = Report("verify pod")
    try:
        settings = load_settings(probe.environ, probe.env_file).settings
    except ConfigError as exc:
        for problem in exc.problems:
            report.failed("env", problem)
        report.skipped("paths", "the configuration is invalid; nothing else can be checked")
        return report
    if settings.in_kubernetes:
        report.passed("env", f"configuration complete (kubernetes, source {settings.source})")
    else:
        report.failed("env", "OBSERVER_DEPLOYMENT is local; expected kubernetes inside a pod")
    check_paths(settings, report)
    check_mounts(settings, probe, report)
    check_marker(settings, report)
    check_writer_lock(settings, socket.gethostname(), report)
    metrics = http_get(probe.host, settings.service_port, "/metrics", probe.timeout)
    check_fresh_archive(settings, metrics, probe.now(), report)
    check_endpoints(settings, probe, report)
    return report


def check_paths(settings: Settings, report: Report) -> None:
    """Each directory exists; each but the config directory takes a real write."""
    for alias, (field, _default, _parent) in PATH_VARS.items():
        path: Path = getattr(settings, field)
        if not path.is_dir():
            report.failed("paths", f"{alias}={path} does not exist; expected a directory")
            continue
        if alias == "OBSERVER_CONFIG_DIR":
            try:
                names = sorted(p.name for p in path.iterdir())
            except OSError as exc:
                report.failed("paths", f"{alias}={path} is not readable: {exc.strerror}")
                continue
            report.passed("paths", f"{alias}={path} readable ({len(names)} entries)")
            continue
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".verify-") as handle:
                handle.write(b"x")
        except OSError as exc:
            report.failed("paths", f"{alias}={path} is not writable: {exc.strerror}")
            continue
        report.passed("paths", f"{alias}={path} exists and is writable")


def check_mounts(settings: Settings, probe: PodProbe, report: Report) -> None:
    """Data, logs and universe on mounts of their own; the root filesystem read-only."""
    try:
        entries = read_mountinfo(probe.mountinfo)
    except OSError as exc:
        report.skipped("mounts", f"cannot read {probe.mountinfo}: {exc.strerror}")
        return
    root = mount_of(probe.root, entries)
    if root is None:
        report.skipped("mounts", f"{probe.root} is in no mount of {probe.mountinfo}")
        return
    for alias in OWN_MOUNT_PATHS:
        path: Path = getattr(settings, PATH_VARS[alias][0])
        entry = mount_of(path, entries)
        if entry is None or entry.mount_id == root.mount_id:
            report.failed(
                "mounts",
                f"{alias}={path} is on the root filesystem ({_describe(root)}); "
                "expected a volume of its own (it would vanish with the container)",
            )
        else:
            report.passed("mounts", f"{alias}={path} on {_describe(entry)}")
    if root.read_only:
        report.passed("rootfs", f"{probe.root} is read-only ({_describe(root)})")
    else:
        report.failed(
            "rootfs",
            f"{probe.root} is writable ({_describe(root)}); expected readOnlyRootFilesystem: true",
        )


def _describe(entry: MountEntry) -> str:
    return f"{entry.fs_type} {entry.source} at {entry.mount_point}"


def check_writer_lock(settings: Settings, host: str, report: Report) -> None:
    """The data directory's one-writer lock is held, and by a process of this pod (host)."""
    holder = current_holder(settings.data_dir)
    if holder is None:
        report.skipped("lock", f"nobody holds the lock of {settings.data_dir} (service stopped?)")
    elif f" on host {host} " not in f"{holder} ":
        report.failed(
            "lock",
            f"{settings.data_dir} is locked by {holder}, not by this pod ({host}):"
            " a second pod shares the data volume",
        )
    else:
        report.passed("lock", f"{settings.data_dir} is held by {holder}")


def check_marker(settings: Settings, report: Report) -> None:
    """The service records each start in the data volume; two starts prove it persisted."""
    path = settings.data_dir / MARKER_NAME
    if not path.is_file():
        report.failed(
            "persistence",
            f"{path} is missing; the service writes it at every start, so this is not the "
            "data directory the service uses (or the volume was replaced)",
        )
        return
    try:
        marker: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        report.failed("persistence", f"{path} is unreadable: {exc}")
        return
    starts = int(marker.get("starts", 0))
    first = marker.get("first_start")
    if starts >= 2:
        report.passed(
            "persistence",
            f"marker from the first start {first} found after {starts} starts: the data volume "
            "survives restarts",
        )
    else:
        report.skipped(
            "persistence",
            f"only one start recorded so far ({first}); restart the pod and run again to prove "
            "the data volume survives",
        )


def _metric_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def check_fresh_archive(
    settings: Settings, metrics: HttpAnswer, now: float, report: Report
) -> None:
    """While the market is open, a scalp or swing JSONL file was written within the last five
    minutes."""
    if metrics.status != 200:
        report.skipped(
            "archive", f"market state unknown (/metrics: {metrics.error or metrics.status})"
        )
        return
    market_open = _metric_value(metrics.body.decode("utf-8", "replace"), "observer_market_open")
    if market_open != 1.0:
        report.skipped(
            "archive", "market closed (observer_market_open is not 1): no fresh JSONL expected"
        )
        return
    files = [
        path
        for name, path in scan(settings.assets_dir)
        if not name.compressed and name.stream in MARKET_STREAMS
    ]
    if not files:
        report.failed(
            "archive",
            f"market open but no scalp or swing JSONL file in {settings.assets_dir} "
            "(system records alone do not count)",
        )
        return
    newest = max(files, key=lambda p: p.stat().st_mtime)
    age = now - newest.stat().st_mtime
    if age <= FRESH_JSONL_SECONDS:
        report.passed("archive", f"{newest.name} written {age:.0f} s ago")
    else:
        report.failed(
            "archive",
            f"market open but the newest JSONL {newest.name} is {age:.0f} s old; "
            f"expected a write within {FRESH_JSONL_SECONDS} s",
        )


def check_endpoints(settings: Settings, probe: PodProbe, report: Report) -> None:
    """/health answers 200 with status ok and a timestamp; /ready answers 200."""
    port = settings.service_port
    health = http_get(probe.host, port, "/health", probe.timeout)
    where = f"http://{probe.host}:{port}"
    body: Any = None
    if health.status == 200:
        try:
            body = orjson.loads(health.body)
        except orjson.JSONDecodeError:
            body = None
    if isinstance(body, dict) and body.get("status") == "ok" and body.get("timestamp"):
        report.passed("health", f"{where}/health 200 status ok at {body['timestamp']}")
    else:
        got = health.error or f"{health.status} {health.body[:120]!r}"
        report.failed(
            "health",
            f'{where}/health answered {got}; expected 200 {{"status":"ok","timestamp":...}}',
        )
    ready = http_get(probe.host, port, "/ready", probe.timeout)
    if ready.status == 200:
        report.passed("ready", f"{where}/ready 200")
    else:
        got = ready.error or f"{ready.status} {ready.body[:200]!r}"
        report.failed("ready", f"{where}/ready answered {got}; expected 200")
