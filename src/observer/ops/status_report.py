"""``observer status``: fetch the running service's /status and render it as readable tables."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import orjson

from observer.ops.exceptions import StatusUnavailableError

DASH = "—"


def fetch_status(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET ``<url>/status``; raises StatusUnavailableError when the service does not answer."""
    target = url.rstrip("/") + "/status"
    if not target.startswith(("http://", "https://")):
        raise StatusUnavailableError(url, "the URL must start with http:// or https://")
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # noqa: S310 - checked above
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise StatusUnavailableError(url, f"HTTP {exc.code} from /status") from exc
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
        raise StatusUnavailableError(url, f"{reason} - is the service running?") from exc
    except (TimeoutError, OSError) as exc:
        raise StatusUnavailableError(url, f"{exc} - is the service running?") from exc
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise StatusUnavailableError(url, "/status did not return JSON") from exc
    if not isinstance(data, dict):
        raise StatusUnavailableError(url, "/status did not return a JSON object")
    return data


def text(value: Any) -> str:
    """One value as table text; missing values are a dash."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value) or DASH
    return str(value)


def human_bytes(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return DASH


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Left-aligned columns sized to their widest cell."""
    if not rows:
        return f"{indent}{DASH}"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _section(status: dict[str, Any], key: str) -> dict[str, Any]:
    value = status.get(key)
    return value if isinstance(value, dict) else {}


def _head(status: dict[str, Any]) -> list[str]:
    service = _section(status, "service")
    clock = _section(service, "clock")
    market = _section(status, "market")
    nxt = _section(market, "next_transition")
    lines = [
        f"Observer {text(service.get('version'))}  source {text(service.get('source'))}"
        f"  ready {text(service.get('ready'))}  uptime {text(service.get('uptime_seconds'))} s",
        f"Clock    {text(clock.get('now'))}  speed {text(clock.get('speed'))}"
        f"  shifted {text(clock.get('shifted'))}",
        f"Market   trading day {text(market.get('trading_day'))}  session "
        f"{text(market.get('session'))}  next {text(nxt.get('what'))} at {text(nxt.get('at'))}",
    ]
    for failure in service.get("ready_failures") or []:
        lines.append(f"         not ready: {failure}")
    return lines


def _sources(status: dict[str, Any]) -> str:
    rows = [
        [
            text(s.get("name")),
            text(s.get("kind")),
            text(s.get("connected")),
            text(s.get("reconnects")),
            text(s.get("registrations")),
            text(s.get("last_message_age_seconds")),
        ]
        for s in status.get("sources") or []
        if isinstance(s, dict)
    ]
    headers = ("NAME", "KIND", "CONNECTED", "RECONNECTS", "REGISTRATIONS", "LAST MSG AGE (S)")
    return table(headers, rows)


def _streams(status: dict[str, Any]) -> str:
    rows = [
        [
            name,
            text(s.get("stored")),
            text(s.get("records_per_second")),
            text(s.get("last_record_ts")),
            text(s.get("current_file")),
        ]
        for name, s in sorted(_section(status, "streams").items())
        if isinstance(s, dict)
    ]
    return table(("STREAM", "STORED", "REC/S", "LAST RECORD", "CURRENT FILE"), rows)


def _slots(status: dict[str, Any]) -> str:
    rows = []
    for slot in status.get("slots") or []:
        if isinstance(slot, dict):
            symbols = slot.get("symbols") or []
            shown = ", ".join(symbols[:12]) + (
                f" (+{len(symbols) - 12})" if len(symbols) > 12 else ""
            )
            rows.append(
                [
                    text(slot.get("session")),
                    f"{len(symbols)}/{text(slot.get('max'))}",
                    shown or DASH,
                ]
            )
    return table(("SESSION", "USED", "SYMBOLS"), rows)


def _gaps(status: dict[str, Any], limit: int = 10) -> str:
    """Today's gap windows, newest first (the first ``limit``); a dash for no repair yet."""
    rows = [
        [
            f"{text(g.get('start'))[11:19]}-{text(g.get('end'))[11:19]}",
            text(g.get("reason")),
            f"{text(g.get('symbols'))} {', '.join(g.get('first') or [])}".strip(),
            text(g.get("outcome")),
            text(g.get("recovered")),
        ]
        for g in (status.get("gaps") or [])[:limit]
        if isinstance(g, dict)
    ]
    return table(("WINDOW", "REASON", "SYMBOLS", "OUTCOME", "RECOVERED"), rows)


def _files(status: dict[str, Any]) -> str:
    archive = _section(status, "archive")
    rows = [
        [text(f.get("name")), human_bytes(f.get("bytes"))]
        for f in archive.get("files") or []
        if isinstance(f, dict)
    ]
    return table(("FILE", "SIZE"), rows)


def _tail(status: dict[str, Any]) -> list[str]:
    universe = _section(status, "universe")
    archive = _section(status, "archive")
    loader = _section(status, "loader")
    disk = _section(status, "disk")
    lag = loader.get("lag_records")
    lag_text = (
        ", ".join(f"{k} {text(v)}" for k, v in sorted(lag.items()))
        if isinstance(lag, dict)
        else text(lag)
    )
    return [
        f"Universe {text(universe.get('size'))} symbols  date {text(universe.get('date'))}"
        f"  source {text(universe.get('source'))}  fallback {text(universe.get('fallback'))}",
        f"Gaps today {text(status.get('gaps_today'))}",
        f"Archive  accepting {text(archive.get('accepting'))}"
        f"  queue {text(archive.get('queue_depth'))}"
        f"  paused for {text(archive.get('pause_reason'))}",
        f"Loader   enabled {text(loader.get('enabled'))}  db up {text(loader.get('db_up'))}"
        f"  lag {lag_text} records, {text(loader.get('lag_seconds'))} s"
        f"  path {text(_section(status, 'service').get('loader_path'))}",
        f"Disk     {human_bytes(disk.get('free_bytes'))} free"
        f" of {human_bytes(disk.get('total_bytes'))}  state {text(disk.get('state'))}",
    ]


def render_status(status: dict[str, Any]) -> str:
    """The whole /status as readable text (sections absent from /status show a dash)."""
    parts = [
        *_head(status),
        "",
        "Sources",
        _sources(status),
        "Streams",
        _streams(status),
        "Slots",
        _slots(status),
        "Gaps today (newest first)",
        _gaps(status),
        "Archive files",
        _files(status),
        "",
        *_tail(status),
    ]
    warnings = status.get("warnings") or []
    parts.append("Warnings " + (DASH if not warnings else ""))
    parts.extend(f"  ! {w}" for w in warnings)
    return "\n".join(parts)
