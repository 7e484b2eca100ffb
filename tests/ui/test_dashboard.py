"""The live dashboard in headless Chromium: every rendered value matches /status.

Every value element has ``data-field`` (a dotted path into /status) and ``data-format``; the
page keeps the /status it rendered in ``window.observerDashboard.status``. The tests read the
DOM and that JSON in one step (so no refresh can fall between them), check each element shows
its path's value in its format (a dash when absent), and compare the page's /status with one
fetched by the test just before and just after: stable fields equal, counters and the clock
between the two. A simulated run checks what a user sees after minutes of collecting: the
history charts drawn from /history on the first load, a gap list holding the gap of a forced
disconnect, the slots' details, and the page once the service is stopped.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from observer.api.server import ApiServer
from observer.clock import Clock
from observer.metrics import Metrics
from tests.service_process import SIMULATED_SESSION, ServiceProcess, get

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

CHARTS_JS = """() => {
  const s = window.observerDashboard;
  return Object.entries(s.charts).map(([id, u]) => ({
    id: id, points: u.data[0].length, first: u.data[0][0], last: u.data[0][u.data[0].length - 1],
    xmin: u.scales.x.min, xmax: u.scales.x.max, time: u.scales.x.time,
    ticks: (u.axes[0]._values || []).map(String),
    series: u.series.slice(1).map((x) => x.label),
    nonNull: u.data.slice(1).map((col) => col.filter((v) => v !== null).length),
    canvas: !!document.querySelector('#' + id + ' canvas'),
  }));
}"""

DOWN_JS = """() => {
  const values = [...document.querySelectorAll('main [data-field]')];
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const green = (el) => getComputedStyle(el).color === 'rgb(63, 185, 80)';
  const conn = document.getElementById('connection');
  return {
    down: document.body.classList.contains('down'),
    connection: conn.textContent,
    connectionColor: getComputedStyle(conn).color,
    brightest: Math.max(...values.map(opacity)),
    greenValues: [...document.querySelectorAll('[data-field]')].filter(green).map(
      (el) => el.dataset.field),
    charts: Math.max(...[...document.querySelectorAll('.chart')].map(opacity)),
  };
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
    if kind == "clock":
        return str(value)[11:19]
    if kind == "score" and number:
        return f"{value:.2f}"
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
        for j, _detail in enumerate(slot.get("details") or []):
            for name in ("code", "name", "market", "reason", "score", "since", "trades_per_minute"):
                assert f"slots.{i}.details.{j}.{name}" in paths
    for i, _gap in enumerate(status.get("gaps") or []):
        for name in ("start", "end", "reason", "symbols", "first", "outcome", "recovered"):
            assert f"gaps.{i}.{name}" in paths
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
    assert texts["service.loader_path"] in ("compiled", "general")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


HISTORY_POINTS = 5
RED = "rgb(248, 81, 73)"


def ran_long_enough(url: str) -> bool:
    """History of a few minutes, a disconnect gap and slots with their details."""
    code, history = get(url + "/history")
    _code, status = get(url + "/status")
    if code != 200 or len(history["t"]) < HISTORY_POINTS:
        return False
    gaps = [g for g in status.get("gaps") or [] if g["reason"] == "disconnect" and g["symbols"]]
    details = [d for slot in status.get("slots") or [] for d in slot.get("details") or []]
    return bool(gaps) and bool(details)


async def test_a_simulated_run_shows_history_gaps_slots_and_then_the_outage(
    browser: Browser, home: Path
) -> None:
    with ServiceProcess(home, **SIMULATED_SESSION) as svc:
        svc.start()
        svc.wait_for(lambda: ran_long_enough(svc.url), 120, "history, a disconnect gap, slots")
        page = await open_dashboard(browser, svc.url, renders=1)  # the first load
        await page.wait_for_function("window.observerDashboard.historyDraws >= 1", timeout=10_000)
        charts = await page.evaluate(CHARTS_JS)
        snapshot = await page.evaluate(SNAPSHOT_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-history.png"), full_page=True)
        assert svc.terminate(timeout=15) == 0
        await page.wait_for_function("document.body.classList.contains('down')", timeout=10_000)
        down = await page.evaluate(DOWN_JS)
        last_clock = await page.evaluate("window.observerDashboard.status.service.clock.now")
        await page.screenshot(path=str(ARTIFACTS / "dashboard-unreachable.png"), full_page=True)

    # History: drawn from the service's memory on the first load, on a time axis.
    first_minute = snapshot["history"]["t"][0]
    assert {c["id"] for c in charts} == {
        "chart-records",
        "chart-problems",
        "chart-lag",
        "chart-capacity",
    }
    for chart in charts:
        assert chart["canvas"] and chart["time"], chart
        assert chart["points"] >= HISTORY_POINTS and chart["first"] == first_minute, chart
        assert chart["xmin"] <= first_minute and chart["xmax"] >= chart["last"], chart
        assert chart["ticks"] and all(re.fullmatch(r"09:[0-5]\d", t) for t in chart["ticks"]), chart
    records = next(c for c in charts if c["id"] == "chart-records")
    assert records["series"] == ["scalp", "swing", "system"]
    assert all(n >= HISTORY_POINTS for n in records["nonNull"])
    assert sum(snapshot["history"]["series"]["stored_scalp"]) > 0
    problems = next(c for c in charts if c["id"] == "chart-problems")
    assert "gaps opened" in problems["series"]
    assert sum(snapshot["history"]["series"]["gaps_opened"]) > 0  # the disconnects

    # The gap list and the slots, as rendered from the page's own /status.
    status = snapshot["status"]
    paths = assert_fields_match(snapshot)
    assert_lists_rendered(status, paths)
    texts = {field: text for field, _kind, text in snapshot["fields"]}
    index, gap = next(
        (i, g) for i, g in enumerate(status["gaps"]) if g["reason"] == "disconnect" and g["symbols"]
    )
    assert texts[f"gaps.{index}.reason"] == "disconnect"
    assert texts[f"gaps.{index}.symbols"] == str(gap["symbols"])
    assert texts[f"gaps.{index}.first"] == ", ".join(gap["first"]) and gap["first"]
    assert re.fullmatch(r"09:\d\d:\d\d", texts[f"gaps.{index}.start"])
    details = status["slots"][0]["details"]
    assert details
    for j, detail in enumerate(details):
        assert texts[f"slots.0.details.{j}.code"] == detail["code"]
        assert texts[f"slots.0.details.{j}.name"] not in ("", DASH)
        assert texts[f"slots.0.details.{j}.market"] in ("KOSPI", "KOSDAQ")
        assert texts[f"slots.0.details.{j}.reason"] == "trigger"  # no always-on list configured
        assert re.fullmatch(r"\d\.\d\d", texts[f"slots.0.details.{j}.score"])
        assert re.fullmatch(r"09:\d\d:\d\d", texts[f"slots.0.details.{j}.since"])

    # Stopped: every value dims, the header says since when, in red; nothing reads healthy.
    assert down["down"] and down["connection"] == f"unreachable since {last_clock[11:19]}"
    assert down["connectionColor"] == RED
    assert down["brightest"] < 0.5 and down["charts"] < 0.5
    assert down["greenValues"] == []


FULL_STATUS: dict[str, Any] = {
    "service": {
        "source": "kis",
        "started_at": "2026-01-05T08:00:00+09:00",
        "loader_path": "general",
    },
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
    "slots": [
        {
            "session": "ws-1",
            "max": 41,
            "symbols": ["005930", "000660"],
            "details": [
                {
                    "code": "005930",
                    "name": "삼성전자",
                    "market": "KOSPI",
                    "reason": "always-on",
                    "score": None,
                    "since": "2026-01-05T09:00:00.1+09:00",
                    "trades_per_minute": 312.5,
                },
                {
                    "code": "000660",
                    "name": "SK하이닉스",
                    "market": "KOSPI",
                    "reason": "trigger",
                    "score": 0.8137,
                    "since": "2026-01-05T09:41:07.5+09:00",
                    "trades_per_minute": 48.0,
                },
            ],
        }
    ],
    "gaps": [
        {
            "start": "2026-01-05T09:58:01.25+09:00",
            "end": "2026-01-05T09:58:04.5+09:00",
            "reason": "disconnect",
            "scope": "symbol",
            "symbols": 12,
            "first": ["005930", "000660", "035420", "035720", "051910"],
            "missed_volume": None,
            "outcome": "repaired",
            "recovered": 1234,
        },
        {
            "start": "2026-01-05T09:50:00+09:00",
            "end": "2026-01-05T09:55:00+09:00",
            "reason": "missed_sweep",
            "scope": "sweep",
            "symbols": 0,
            "first": [],
            "missed_volume": None,
            "outcome": None,
            "recovered": None,
        },
    ],
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
        path_warns = await page.evaluate(
            "document.querySelector('[data-field=\"service.loader_path\"]')"
            ".classList.contains('warn')"
        )
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
    assert texts["market.session"] == "regular"
    assert (
        texts["slots.0.details.0.name"] == "삼성전자" and texts["slots.0.details.0.score"] == DASH
    )
    assert texts["slots.0.details.1.reason"] == "trigger"
    assert (
        texts["slots.0.details.1.score"] == "0.81"
        and texts["slots.0.details.1.since"] == "09:41:07"
    )
    assert texts["slots.0.details.1.trades_per_minute"] == "48.0"
    assert texts["gaps.0.start"] == "09:58:01" and texts["gaps.0.end"] == "09:58:04"
    assert texts["gaps.0.first"] == "005930, 000660, 035420, 035720, 051910"
    assert texts["gaps.0.outcome"] == "repaired" and texts["gaps.0.recovered"] == "1,234"
    assert texts["gaps.1.outcome"] == DASH and texts["gaps.1.recovered"] == DASH  # no repair
    assert texts["market.next_transition.at"] == "2026-01-05 15:20:00"
    assert texts["warnings.1"] == "universe fell back to yesterday"
    assert texts["sweep.coverage"] == "99.8 %" and texts["sweep.errors"] == "1"
    assert texts["maintenance.last_runs.backup.ok"] == "no" and texts["disk.used_ratio"] == "70.0 %"
    assert texts["maintenance.next_run"] == "2026-01-05 18:30:00"
    assert texts["loader.lag_records.system"] == DASH and texts["streams.system.stored"] == DASH
    assert texts["service.loader_path"] == "general" and path_warns  # the slow path stands out


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
