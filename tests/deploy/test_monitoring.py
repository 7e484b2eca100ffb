"""The monitoring component: market-hours alerts gated, always-on alerts that do not need the
pod's own metrics, only metrics the service (or the scrape and kube-state-metrics) exports."""

from __future__ import annotations

import json
import re
from typing import Any

from observer.metrics import Metrics
from tests.deploy.conftest import find

GATE = "and on() observer_market_open == 1"
MARKET_HOURS_ALERTS = {
    "ObserverFeedDown",
    "ObserverNoRecordsWritten",
    "ObserverTokenExpiring",
    "ObserverRateLimited",
    "ObserverPodRestarting",
    "ObserverDatabaseDown",
}
ALWAYS_ALERTS = {
    "ObserverDown",
    "ObserverAbsent",
    "ObserverLoaderLag",
    "ObserverDiskAlmostFull",
    "ObserverArchiveRefusingWrites",
    "ObserverBackupTooOld",
    "ObserverBackupNeverSucceeded",
}
# Series that are not the service's: the scrape's own `up`, kube-state-metrics' CronJob status.
EXTERNAL_SERIES = {"up", "kube_cronjob_status_last_successful_time"}
PROMQL_WORDS = {
    "sum", "max", "min", "count", "rate", "resets", "count_over_time", "histogram_quantile",
    "time", "and", "on", "or", "by", "without", "increase", "le", "absent", "job", "cronjob",
}  # fmt: skip


def exported_names() -> set[str]:
    """Every series name the service's registry can expose (with histogram suffixes)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def metric_names(expr: str) -> set[str]:
    without_labels = re.sub(
        r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b(by|without|on)\s*\([^)]*\)", "", expr
    )
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", without_labels))
    return {w for w in words if w not in PROMQL_WORDS}


def test_alerts_are_gated_and_complete(rendered: dict[str, Any]) -> None:
    rule = find(rendered["production"][0], "PrometheusRule", "observer")
    groups = {g["name"]: g["rules"] for g in rule["spec"]["groups"]}
    assert {a["alert"] for a in groups["observer.market-hours"]} >= MARKET_HOURS_ALERTS
    assert {a["alert"] for a in groups["observer.always"]} >= ALWAYS_ALERTS
    for alert in groups["observer.market-hours"]:
        expr = " ".join(alert["expr"].split())
        assert expr.endswith(GATE), f"{alert['alert']} is not gated on market hours"
    for alert in groups["observer.always"]:
        assert "observer_market_open" not in alert["expr"], alert["alert"]
    for alert in [a for rules in groups.values() for a in rules]:
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]


def test_rules_and_dashboard_use_only_exported_metrics(rendered: dict[str, Any]) -> None:
    exported = exported_names()
    docs = rendered["production"][0]
    rule = find(docs, "PrometheusRule", "observer")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    board = json.loads(
        find(docs, "ConfigMap", "observer-grafana-dashboard")["data"]["observer-dashboard.json"]
    )
    exprs += [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    used = set().union(*(metric_names(e) for e in exprs))
    assert used, "no metric found"
    used -= EXTERNAL_SERIES
    assert used <= exported, f"not exported by observer.metrics: {sorted(used - exported)}"
    assert all(name.startswith("observer_") for name in used)


def test_dashboard_configmap(rendered: dict[str, Any]) -> None:
    cm = find(rendered["production"][0], "ConfigMap", "observer-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(cm["data"]["observer-dashboard.json"])
    assert board["uid"] and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in board["panels"]:
        assert panel["targets"] and set(panel["gridPos"]) == {"x", "y", "w", "h"}
        if panel["type"] == "stat":  # every stat panel says when its value is bad
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert len(steps) >= 2 and steps[0]["value"] is None, panel["title"]
    (backup,) = [p for p in board["panels"] if p["title"] == "Last backup age"]
    assert "observer-backup" in backup["targets"][0]["expr"]
    assert [s["value"] for s in backup["fieldConfig"]["defaults"]["thresholds"]["steps"]][-1] == (
        30 * 3600
    )  # where ObserverBackupTooOld fires


def test_servicemonitor_scrapes_metrics(rendered: dict[str, Any]) -> None:
    docs = rendered["production"][0]
    for kind in ("ServiceMonitor", "PrometheusRule"):  # the stack's default selector
        assert find(docs, kind, "observer")["metadata"]["labels"]["release"]
    monitor = find(docs, "ServiceMonitor", "observer")["spec"]
    assert monitor["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    service = find(docs, "Service", "observer")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["name"] == "http"
