"""The live dashboard in headless Chromium: every rendered value matches /status.

Every value element has ``data-field`` (a dotted path into /status) and ``data-format``; the
page keeps the /status it rendered in ``window.observerDashboard.status``. The tests read the
DOM and that JSON in one step (so no refresh can fall between them), check each element shows
its path's value in its format (a dash when absent), and compare the page's /status with one
fetched by the test just before and just after: stable fields equal, counters and the clock
between the two.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from observer.api.server import ApiServer
from observer.clock import Clock
from observer.metrics import Metrics
from tests.service_process import ServiceProcess, get

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DASH = "—"
# A Monday, 10:00 KST: the regular session is running.
TRADING_START = "2026-01-05T10:00:00+09:00"

SNAPSHOT_JS = """() => {
  const fields = [...document.querySelectorAll('[data-field]')].map(
    (el) => [el.dataset.field, el.dataset.format || 'text', el.textContent]);
  const s = window.observerDashboard;
  return {status: s.status, renders: s.renders, fields: fields,
          history: s.history, connection: document.getElementById('connection').textContent};
}"""


def lookup(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(obj, list):
            index = int(key)
            obj = obj[index] if 0 <= index < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(key)
        else:
            return None
    return obj


def _fixed(value: float, exact: bool) -> str:
    """One decimal, ties away from zero: on the shortest decimal text (toLocaleString) or on
    the exact binary value (toFixed)."""
    number = Decimal(value) if exact else Decimal(repr(value))
    return f"{number.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,}"


def shown(value: Any, kind: str) -> str:
    """What the page must show for ``value`` in ``kind`` (mirrors dashboard.js)."""
    if value is None or value == "":
        return DASH
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "int" and number:
        return f"{int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)):,}"
    if kind == "ratio" and number:
        return _fixed(value * 100, exact=False) + " %"
    if kind in ("float", "age") and number:
        return _fixed(value, exact=False) + (" s" if kind == "age" else "")
    if kind == "bytes" and number:
        size, unit = float(value), 0
        while abs(size) >= 1024 and unit < 4:
            size, unit = size / 1024, unit + 1
        suffix = ("B", "KB", "MB", "GB", "TB")[unit]
        return (
            f"{value} B" if unit == 0 else f"{_fixed(size, exact=True).replace(',', '')} {suffix}"
        )
    if kind == "time":
        return str(value).replace("T", " ", 1)[:19]
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or DASH
    return str(value)


def assert_fields_match(snapshot: dict[str, Any]) -> set[str]:
    """Every element shows its path's value; returns the rendered paths."""
    status = snapshot["status"]
    mismatches = [
        (field, text, shown(lookup(status, field), kind))
        for field, kind, text in snapshot["fields"]
        if text != shown(lookup(status, field), kind)
    ]
    assert mismatches == [], mismatches
    return {field for field, _kind, _text in snapshot["fields"]}


def assert_lists_rendered(status: dict[str, Any], paths: set[str]) -> None:
    """Each element of every list section has its row (or chip) on the page."""
    for i, _source in enumerate(status.get("sources") or []):
        assert f"sources.{i}.connected" in paths and f"sources.{i}.name" in paths
    for i, _file in enumerate((status.get("archive") or {}).get("files") or []):
        assert f"archive.files.{i}.name" in paths and f"archive.files.{i}.bytes" in paths
    for i, slot in enumerate(status.get("slots") or []):
        assert f"slots.{i}.session" in paths
        assert all(f"slots.{i}.symbols.{j}" in paths for j in range(len(slot["symbols"])))
    for i, _warning in enumerate(status.get("warnings") or []):
        assert f"warnings.{i}" in paths


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-test-tools.sh")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def open_dashboard(browser: Browser, url: str, renders: int = 3) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 1100})
    await page.goto(url + "/")
    await page.wait_for_function(
        f"window.observerDashboard && window.observerDashboard.renders >= {renders}",
        timeout=20_000,
    )
    return page


@pytest.fixture
def service(home: Path) -> Iterator[ServiceProcess]:
    with ServiceProcess(home, OBSERVER_CLOCK_START=TRADING_START) as svc:
        yield svc.start()


async def test_dashboard_of_a_running_service_matches_status(
    browser: Browser, service: ServiceProcess
) -> None:
    page = await open_dashboard(browser, service.url)
    # Bracket the page's /status between two of ours: a refresh that starts after `before`
    # was fetched renders a status no older than `before` and no newer than `after`.
    code, before = get(service.url + "/status")
    assert code == 200
    renders = await page.evaluate("window.observerDashboard.renders")
    await page.wait_for_function(
        f"window.observerDashboard.renders >= {renders + 2}", timeout=10_000
    )
    snapshot = await page.evaluate(SNAPSHOT_JS)
    code, after = get(service.url + "/status")
    assert code == 200
    rendered = snapshot["status"]

    paths = assert_fields_match(snapshot)
    assert_lists_rendered(rendered, paths)
    assert snapshot["connection"] == "live"
    for stable in ("service.version", "service.source", "service.started_at", "service.deployment"):
        assert lookup(before, stable) == lookup(rendered, stable) == lookup(after, stable), stable
    assert before.get("config") == rendered.get("config") == after.get("config")
    for stream, shown_counts in rendered["streams"].items():
        low, high = before["streams"][stream]["stored"], after["streams"][stream]["stored"]
        assert low <= shown_counts["stored"] <= high, stream
    low_clock, high_clock = before["service"]["clock"]["now"], after["service"]["clock"]["now"]
    assert low_clock <= rendered["service"]["clock"]["now"] <= high_clock
    texts = {field: text for field, _kind, text in snapshot["fields"]}
    assert (
        texts["service.source"] == "sim" and texts["service.version"] == after["service"]["version"]
    )
    assert texts["service.clock.now"].startswith("2026-01-05 10:")  # the process clock
    assert int(texts["streams.system.stored"].replace(",", "")) >= 1  # the startup event
    assert all(len(series) >= 1 for series in snapshot["history"].values())  # the rate chart

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


FULL_STATUS: dict[str, Any] = {
    "service": {"source": "kis", "started_at": "2026-01-05T08:00:00+09:00"},
    "market": {
        "trading_day": True,
        "session": "regular",
        "idle_reason": None,
        "next_transition": {"at": "2026-01-05T15:20:00+09:00", "what": "closing_auction"},
    },
    "sources": [
        {
            "name": "ws-1",
            "kind": "websocket",
            "connected": True,
            "reconnects": 2,
            "last_message_age_seconds": 0.25,
            "registrations": 41,
        },
        {
            "name": "rest",
            "kind": "rest",
            "connected": False,
            "reconnects": 0,
            "last_message_age_seconds": None,
            "registrations": 0,
        },
    ],
    "slots": [{"session": "ws-1", "max": 41, "symbols": ["005930", "000660", "035420"]}],
    "universe": {"date": "2026-01-05", "size": 2345, "source": "kis", "fallback": False},
    "gaps_today": 3,
    "sweep": {
        "last_started": "2026-01-05T09:55:00+09:00",
        "last_duration_seconds": 41.5,
        "coverage": 0.998,
        "calls": 80,
        "errors": 1,
    },
    "maintenance": {
        "scheduled": True,
        "next_run": "2026-01-05T18:30:00+09:00",
        "running": None,
        "last_runs": {
            "retention": {"at": "2026-01-04T18:30:00.1+09:00", "ok": True},
            "backup": {"at": "2026-01-04T18:31:00+09:00", "ok": False},
        },
    },
    "streams": {
        "scalp": {
            "stored": 1234567,
            "last_record_ts": "2026-01-05T10:00:01.5+09:00",
            "current_file": "scalp_20260105_10.jsonl",
            "records_per_second": 812.25,
        },
        "swing": {
            "stored": 9876,
            "last_record_ts": None,
            "current_file": None,
            "records_per_second": 0.0,
        },
    },
    "archive": {
        "queue_depth": 12,
        "accepting": True,
        "pause_reason": None,
        "files": [
            {"name": "scalp_20260105_10.jsonl", "bytes": 1_610_612_736},
            {"name": "swing_20260105_10.jsonl", "bytes": 1280},
            {"name": "system_20260105_10.jsonl", "bytes": 278},
        ],
    },
    "loader": {
        "enabled": True,
        "db_up": False,
        "lag_records": {"scalp": 4500, "swing": 0},
        "lag_seconds": 12.75,
        "last_error": "connection refused",
    },
    "disk": {
        "free_bytes": 3 * 1024**3,
        "total_bytes": 10 * 1024**3,
        "used_ratio": 0.7,
        "state": "ok",
    },
    "warnings": ["database unreachable: loader is behind", "universe fell back to yesterday"],
}


async def serve(status: dict[str, Any]) -> ApiServer:
    server = ApiServer(Clock(), Metrics(), "127.0.0.1", 0)
    server.add_status(lambda: json.loads(json.dumps(status)))
    await server.start()
    return server


async def test_every_section_renders_in_its_format(browser: Browser) -> None:
    server = await serve(FULL_STATUS)
    try:
        page = await open_dashboard(browser, f"http://127.0.0.1:{server.bound_port}", renders=2)
        snapshot = await page.evaluate(SNAPSHOT_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-every-section.png"), full_page=True)
    finally:
        await server.stop()
    paths = assert_fields_match(snapshot)
    assert_lists_rendered(snapshot["status"], paths)
    texts = {field: text for field, _kind, text in snapshot["fields"]}
    assert texts["streams.scalp.stored"] == "1,234,567"
    assert texts["streams.scalp.records_per_second"] == "812.3"
    assert texts["archive.files.0.bytes"] == "1.5 GB" and texts["archive.files.1.bytes"] == "1.3 KB"
    assert texts["disk.free_bytes"] == "3.0 GB" and texts["loader.lag_seconds"] == "12.8 s"
    assert texts["sources.0.connected"] == "yes" and texts["sources.1.connected"] == "no"
    assert texts["slots.0.symbols.2"] == "035420" and texts["market.session"] == "regular"
    assert texts["market.next_transition.at"] == "2026-01-05 15:20:00"
    assert texts["warnings.1"] == "universe fell back to yesterday"
    assert texts["sweep.coverage"] == "99.8 %" and texts["sweep.errors"] == "1"
    assert texts["maintenance.last_runs.backup.ok"] == "no" and texts["disk.used_ratio"] == "70.0 %"
    assert texts["maintenance.next_run"] == "2026-01-05 18:30:00"
    assert texts["loader.lag_records.system"] == DASH and texts["streams.system.stored"] == DASH


async def test_missing_sections_render_as_dashes(browser: Browser) -> None:
    server = await serve({})
    try:
        page = await open_dashboard(browser, f"http://127.0.0.1:{server.bound_port}", renders=2)
        snapshot = await page.evaluate(SNAPSHOT_JS)
    finally:
        await server.stop()
    assert_fields_match(snapshot)
    texts = {field: text for field, _kind, text in snapshot["fields"]}
    for field in ("market.session", "universe.size", "disk.free_bytes", "loader.lag_seconds",
                  "streams.scalp.stored", "gaps_today"):  # fmt: skip
        assert texts[field] == DASH, field
    assert texts["service.ready"] == "yes"  # the server always reports its own section
