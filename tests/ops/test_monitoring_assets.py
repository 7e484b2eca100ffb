"""Monitoring assets agree with the service: every metric the PrometheusRule and the Grafana
dashboard use is exported by a running ``observer run``, and the dashboard JSON is valid."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.service_process import ServiceProcess, get

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "components" / "monitoring"
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset", "inf", "nan", "atan2"}
)  # fmt: skip
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}
IDLE_START = "2026-01-10T10:00:00+09:00"  # a Saturday: the service is idle and ready at once


# Series the alerts read that are not the service's own: the scrape's `up` (the pod absent or
# down) and kube-state-metrics' CronJob status (the backup CronJob's last success).
EXTERNAL_SERIES = frozenset({"up", "kube_cronjob_status_last_successful_time"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels, keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def test_metric_names_are_extracted_from_promql() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le) (rate(observer_archive_ack_seconds_bucket[5m])))"
        ' > 0.5 and on() max(observer_market_open{job="observer"}) == 1'
        " or (max(observer_kis_token_expiry_timestamp_seconds) - time()) < 3600"
    )
    assert metric_names(expr) == {
        "observer_archive_ack_seconds_bucket",
        "observer_market_open",
        "observer_kis_token_expiry_timestamp_seconds",
    }


def rule_expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted(MONITORING.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "PrometheusRule":
                continue
            for group in doc["spec"]["groups"]:
                for rule in group["rules"]:
                    name = rule.get("alert") or rule.get("record")
                    found.append((f"{path.name}:{name}", str(rule["expr"])))
    return found


def dashboards() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, json.loads(path.read_text())) for path in sorted(MONITORING.glob("*.json"))]


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def dashboard_expressions() -> list[tuple[str, str]]:
    return [
        (f"{path.name}:{panel.get('title')}", target["expr"])
        for path, board in dashboards()
        for panel in panels(board)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every series name a running service exports (with the suffixes of each family's type)."""
    home = tmp_path_factory.mktemp("observer")
    with ServiceProcess(home, OBSERVER_CLOCK_START=IDLE_START) as service:
        service.start()
        code, body = get(service.url + "/metrics")
        assert code == 200
        service.terminate()
    names: set[str] = set()
    for family in text_string_to_metric_families(body):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_monitoring_assets_exist() -> None:
    assert rule_expressions(), f"no PrometheusRule under {MONITORING}"
    assert dashboard_expressions(), f"no Grafana dashboard with queries under {MONITORING}"


def test_every_metric_in_the_assets_is_exported(exported: set[str]) -> None:
    missing = [
        f"{where}: {name}"
        for where, expr in rule_expressions() + dashboard_expressions()
        for name in sorted(metric_names(expr))
        if name not in exported and name not in EXTERNAL_SERIES
    ]
    assert missing == []
    assert "observer_disk_free_bytes" in exported and "observer_records_stored_total" in exported


def test_the_dashboard_json_is_valid() -> None:
    for path, board in dashboards():
        assert board.get("uid") and board.get("title"), path.name
        variables = {v["name"] for v in board.get("templating", {}).get("list", [])}
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in panels(board):
            where = f"{path.name}: panel {panel.get('title')!r}"
            assert panel.get("type") and panel.get("title"), where
            grid = panel.get("gridPos", {})
            assert {"x", "y", "w", "h"} <= grid.keys(), where
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, where
            if panel["type"] == "row":
                continue
            uid = (panel.get("datasource") or {}).get("uid", "")
            for var in re.findall(r"\$\{?(\w+)\}?", str(uid)):
                assert var in variables, f"{where}: unknown variable ${var}"
            refs = [t.get("refId") for t in panel.get("targets", [])]
            assert refs and len(refs) == len(set(refs)), f"{where}: targets need unique refIds"
            assert all(t.get("expr") for t in panel["targets"]), f"{where}: empty query"
