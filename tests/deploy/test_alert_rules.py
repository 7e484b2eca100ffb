"""Every alert rule unit-tested with ``promtool test rules`` (Debian's prometheus package,
scripts/install-test-tools.sh): the rendered PrometheusRule's groups against
tests/deploy/data/alert_tests.yaml, and a broken rule that the same tests must catch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import find

TESTS = Path(__file__).parent / "data" / "alert_tests.yaml"
MIB = 1024**2


def promtool() -> str:
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").is_file() else None
    )
    if found is None:
        pytest.skip("promtool not installed: run bash scripts/install-test-tools.sh")
    return found


def groups(rendered: dict[str, Any]) -> list[dict[str, Any]]:
    rule = find(rendered["production"][0], "PrometheusRule", "observer")
    found: list[dict[str, Any]] = rule["spec"]["groups"]
    return found


def run(folder: Path, rule_groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """promtool on the groups (annotations left out: the tests check expressions and labels)."""
    stripped = [
        {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
        for g in rule_groups
    ]
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": stripped}))
    shutil.copy(TESTS, folder / "alert_tests.yaml")
    return subprocess.run(
        [promtool(), "test", "rules", "alert_tests.yaml"],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_rule_passes_its_promtool_tests(rendered: dict[str, Any], tmp_path: Path) -> None:
    done = run(tmp_path, groups(rendered))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_and_a_quiet_case(rendered: dict[str, Any]) -> None:
    alerts = {r["alert"] for g in groups(rendered) for r in g["rules"]}
    cases = [c for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts <= fires, f"never seen firing: {sorted(alerts - fires)}"
    assert alerts <= quiet, f"never seen quiet: {sorted(alerts - quiet)}"


def test_a_broken_absent_rule_is_caught(rendered: dict[str, Any], tmp_path: Path) -> None:
    broken = groups(rendered)
    for group in broken:
        for rule in group["rules"]:
            if rule.get("alert") == "ObserverAbsent":
                rule["expr"] = 'up{job="observer"} == 0'  # silent when the pod is gone
    done = run(tmp_path, broken)
    assert done.returncode != 0
    assert "ObserverAbsent" in done.stdout + done.stderr


def test_the_disk_alert_threshold_is_the_disk_guard_warning(rendered: dict[str, Any]) -> None:
    docs = rendered["production"][0]
    (rule,) = [
        r
        for g in groups(rendered)
        for r in g["rules"]
        if r.get("alert") == "ObserverDiskAlmostFull"
    ]
    threshold = int(rule["expr"].rsplit("<", 1)[1])
    config = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("observer-config-")
    )
    assert threshold == int(config["data"]["OBSERVER_DISK_WARN_FREE_MB"]) * MIB
    assert int(config["data"]["OBSERVER_DISK_MIN_FREE_MB"]) * MIB < threshold
