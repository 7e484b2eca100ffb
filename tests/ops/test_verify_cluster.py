"""``observer verify cluster`` against a fake Kubernetes API on loopback.

The fake serves recorded API objects (tests/ops/data/verify_cluster/) and speaks the exec
WebSocket channel protocol, so the real client library runs every request it would run
against a cluster, pointed at the fake by a generated kubeconfig.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from click.testing import CliRunner

from observer.cli.verify_cmd import verify_group
from observer.ops.verify.archive_state import archive_state
from observer.ops.verify.cluster import ARCHIVE_STATE_COMMAND, ClusterTarget, verify_cluster
from observer.ops.verify.report import Report

RECORDED = Path(__file__).parent / "data" / "verify_cluster"
NS = "observer-prod"
ASSETS = "/opt/platform/runtime/observer/data/assets"
Doc = dict[str, Any]


def recorded(name: str) -> Doc:
    loaded: Doc = json.loads((RECORDED / name).read_text())
    return loaded


@dataclass
class FakeCluster:
    """The state behind the fake API: objects, archive listings per pod, what was called."""

    pods: list[Doc] = field(default_factory=lambda: recorded("pods.json")["items"])
    pvcs: Doc = field(default_factory=lambda: recorded("pvcs.json"))
    config_maps: dict[str, Doc] = field(
        default_factory=lambda: {"observer-config": recorded("configmap-observer-config.json")}
    )
    states: dict[str, Doc] = field(default_factory=dict)  # archive state per pod
    ready_after_polls: int = 1  # list calls before the replacement pod turns Ready (-1: never)
    calls: list[str] = field(default_factory=list)
    polls_since_delete: int = 0

    def replace_pod(self, name: str) -> Doc:
        old = next(p for p in self.pods if p["metadata"]["name"] == name)
        new = copy.deepcopy(old)
        new["metadata"]["name"] = "observer-7d9c6b5f4-q7w3n"
        new["metadata"]["uid"] = "8c2d4e6f-0000-4b1c-9a2e-3f4a5b6c7d8e"
        for condition in new["status"]["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["status"] = "False"
        old["metadata"]["deletionTimestamp"] = "2026-01-06T00:00:00Z"
        self.pods.append(new)
        return old

    def list_pods(self) -> list[Doc]:
        if any(p["metadata"].get("deletionTimestamp") for p in self.pods):
            self.polls_since_delete += 1
            if self.polls_since_delete > 1:
                self.pods = [p for p in self.pods if not p["metadata"].get("deletionTimestamp")]
            if self.ready_after_polls >= 0 and self.polls_since_delete > self.ready_after_polls:
                for condition in self.pods[-1]["status"]["conditions"]:
                    if condition["type"] in ("Ready", "ContainersReady"):
                        condition["status"] = "True"
        return self.pods


def build_app(state: FakeCluster) -> web.Application:
    base = f"/api/v1/namespaces/{NS}"

    async def pods(request: web.Request) -> web.Response:
        state.calls.append(f"list pods {request.query.get('labelSelector')}")
        selector = dict(
            part.split("=", 1) for part in request.query.get("labelSelector", "").split(",") if part
        )
        items = [
            p for p in state.list_pods() if selector.items() <= p["metadata"]["labels"].items()
        ]
        return web.json_response(
            {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        )

    async def pvcs(_request: web.Request) -> web.Response:
        state.calls.append("list pvcs")
        return web.json_response(state.pvcs)

    async def config_map(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state.calls.append(f"read configmap {name}")
        if name not in state.config_maps:
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "reason": "NotFound", "message": f'configmaps "{name}" not found',
                      "code": 404}  # fmt: skip
            return web.json_response(status, status=404)
        return web.json_response(state.config_maps[name])

    async def delete_pod(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state.calls.append(f"delete pod {name}")
        return web.json_response(state.replace_pod(name))

    async def exec_pod(request: web.Request) -> web.WebSocketResponse:
        name = request.match_info["name"]
        command = request.query.getall("command")
        state.calls.append(f"exec {name} {' '.join(command)}")
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        if tuple(command[:3]) == ARCHIVE_STATE_COMMAND and name in state.states:
            out = json.dumps(state.states[name])
            await ws.send_bytes(b"\x01" + out.encode())
            await ws.send_bytes(
                b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode()
            )
        else:
            await ws.send_bytes(b"\x02" + f"No such file or directory: '{command[-1]}'\n".encode())
            failure = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": "2"}]}}  # fmt: skip
            await ws.send_bytes(b"\x03" + json.dumps(failure).encode())
        await ws.close()
        async for message in ws:
            if message.type == WSMsgType.CLOSE:
                break
        return ws

    app = web.Application()
    app.router.add_get(f"{base}/pods", pods)
    app.router.add_get(f"{base}/persistentvolumeclaims", pvcs)
    app.router.add_get(f"{base}/configmaps/{{name}}", config_map)
    app.router.add_delete(f"{base}/pods/{{name}}", delete_pod)
    app.router.add_get(f"{base}/pods/{{name}}/exec", exec_pod)
    return app


@dataclass
class Api:
    state: FakeCluster
    kubeconfig: Path


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    state = FakeCluster()
    runner = web.AppRunner(build_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n"
        "users:\n- name: fake\n  user:\n    token: fake-token\n"
        "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
        "current-context: fake\n"
    )
    yield Api(state, kubeconfig)
    await runner.cleanup()


async def run(api: Api, **options: Any) -> Report:
    target = ClusterTarget(NS, kubeconfig=str(api.kubeconfig), poll_seconds=0.01, **options)
    return await asyncio.to_thread(verify_cluster, target)


def lines(report: Report, status: str = "FAIL") -> list[str]:
    return [f"{r.check} {r.detail}" for r in report.results if r.status == status]


async def test_a_healthy_deployment_passes(api: Api) -> None:
    report = await run(api)
    assert lines(report) == []
    passed = lines(report, "PASS")
    assert sum(p.startswith("pvc ") for p in passed) == 5
    assert "pod Pod/observer-7d9c6b5f4-x2k8p Ready (node k3s-arm64-1)" in passed
    assert "configmap ConfigMap/observer-config present with 27 keys" in passed
    assert any(p.startswith("persistence Pod/observer-7d9c6b5f4-x2k8p container observer: "
                            "OBSERVER_DATA_DIR=/opt/platform/runtime/observer/data on claim "
                            "observer-data-pvc") for p in passed)  # fmt: skip
    assert not any(c.startswith("delete") for c in api.state.calls)


async def test_pending_claim_unready_pod_missing_key_and_emptydir(api: Api) -> None:
    api.state.pvcs["items"][1]["status"] = {"phase": "Pending"}
    pod = api.state.pods[0]
    for condition in pod["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "False"
    del api.state.config_maps["observer-config"]["data"]["OBSERVER_SNAPSHOT_DIR"]
    pod["spec"]["volumes"][1] = {"name": "logs", "emptyDir": {}}
    found = lines(await run(api))
    where = "Pod/observer-7d9c6b5f4-x2k8p container observer"
    assert found == [
        "pvc PersistentVolumeClaim/observer-data-pvc status.phase is Pending while "
        "Pod/observer-7d9c6b5f4-x2k8p uses it; expected Bound",
        "pod Pod/observer-7d9c6b5f4-x2k8p is not Ready (phase Running); expected Ready",
        f"env {where}: OBSERVER_SNAPSHOT_DIR is not set (env and envFrom: ConfigMap "
        "observer-config); expected /opt/platform/runtime/observer/universe (Kubernetes mode "
        "stops start-up without it)",
        *[
            f"persistence {where}: {alias}=/opt/platform/runtime/observer/logs{sub}: volume logs "
            "at /opt/platform/runtime/observer/logs is emptyDir; expected persistentVolumeClaim "
            "(the data would vanish with the pod)"
            for alias, sub in (("OBSERVER_LOG_DIR", ""), ("OBSERVER_SYSTEM_LOG_DIR", "/system"),
                               ("OBSERVER_MAINTENANCE_LOG_DIR", "/maintenance"))
        ],
    ]  # fmt: skip


async def test_no_pod_and_a_missing_configmap(api: Api) -> None:
    api.state.pods = []
    report = await run(api)
    assert lines(report) == [
        f"pod no pod in namespace {NS} selector app.kubernetes.io/name=observer; "
        "expected exactly one"
    ]
    api.state.pods = recorded("pods.json")["items"]
    api.state.config_maps.clear()
    found = lines(await run(api))
    assert found[0] == (
        "configmap ConfigMap/observer-config referenced by Pod/observer-7d9c6b5f4-x2k8p: "
        "API answered 404; expected it present"
    )


SHA = {"a": "1" * 64, "b": "2" * 64, "c": "3" * 64}
STATE_X: Doc = {
    "files": {"scalp_20260105_09.jsonl.zst": SHA["a"], "manifest_20260105.sha256": SHA["b"],
              "scalp_20260105_10.jsonl": None, "swing_20260105_10.jsonl": None},
    "last_seq": {"scalp": 1200, "swing": 80},
}  # fmt: skip


def _after(**changes: Any) -> Doc:
    state = copy.deepcopy(STATE_X)
    state["files"]["scalp_20260105_11.jsonl"] = None
    state["last_seq"] = {"scalp": 1350, "swing": 81}
    for key, value in changes.items():
        state[key].update(value)
    return state


async def test_restart_keeps_the_archive(api: Api) -> None:
    api.state.states = {"observer-7d9c6b5f4-x2k8p": STATE_X, "observer-7d9c6b5f4-q7w3n": _after()}
    report = await run(api, restart_test=True)
    assert lines(report) == []
    assert lines(report, "PASS")[-2:] == [
        "restart Pod/observer-7d9c6b5f4-x2k8p deleted; Pod/observer-7d9c6b5f4-q7w3n Ready",
        f"restart {ASSETS}: all 4 files still there (5 now), 2 closed file(s) with the same "
        "sha256, last seq kept (scalp 1200 -> 1350, swing 80 -> 81)",
    ]
    command = " ".join(ARCHIVE_STATE_COMMAND)
    assert f"exec observer-7d9c6b5f4-x2k8p {command} {ASSETS}" in api.state.calls
    assert "delete pod observer-7d9c6b5f4-x2k8p" in api.state.calls
    assert f"exec observer-7d9c6b5f4-q7w3n {command} {ASSETS}" in api.state.calls


async def test_restart_that_loses_or_changes_files_or_seqs(api: Api) -> None:
    after = _after(files={"manifest_20260105.sha256": SHA["c"]}, last_seq={"scalp": 1100})
    del after["files"]["swing_20260105_10.jsonl"]
    api.state.states = {"observer-7d9c6b5f4-x2k8p": STATE_X, "observer-7d9c6b5f4-q7w3n": after}
    assert lines(await run(api, restart_test=True)) == [
        f"restart {ASSETS}: 1 file(s) gone after the restart: swing_20260105_10.jsonl; "
        "expected nothing lost",
        f"restart {ASSETS}: 1 closed file(s) changed content: manifest_20260105.sha256; "
        "expected nothing lost",
        f"restart {ASSETS}: stream scalp last seq 1200 before, 1100 after; expected nothing lost",
    ]


async def test_archive_that_cannot_be_read(api: Api) -> None:
    report = await run(api, restart_test=True)
    (line,) = lines(report)
    assert line.startswith(
        f"restart cannot list the archive before the restart: {' '.join(ARCHIVE_STATE_COMMAND)} "
        f"{ASSETS} in observer-7d9c6b5f4-x2k8p exited 2: No such file"
    )
    assert not any(c.startswith("delete") for c in api.state.calls)


async def test_a_claim_no_pod_uses_yet_is_pending_not_failed(api: Api) -> None:
    extra = copy.deepcopy(api.state.pvcs["items"][0])
    extra["metadata"]["name"] = "observer-spare-pvc"
    extra["status"] = {"phase": "Pending"}
    api.state.pvcs["items"].append(extra)
    report = await run(api)
    assert lines(report) == []
    assert lines(report, "SKIP") == [
        "pvc PersistentVolumeClaim/observer-spare-pvc Pending: no pod uses it yet (a "
        "WaitForFirstConsumer class binds it when the first pod, e.g. a CronJob's run, mounts it)"
    ]


def test_the_archive_state_of_a_real_directory(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "scalp_20260105_09.jsonl.zst").write_bytes(b"closed")
    (tmp_path / "scalp_20260105_10.jsonl").write_bytes(b'{"seq":7}\n{"seq":8}\n{"seq":9,"x"')
    (tmp_path / "swing_20260105_09.jsonl").write_bytes(b'{"seq":3}\n')
    (tmp_path / ".write-probe").write_bytes(b"")
    state = archive_state(tmp_path)
    assert state == {
        "files": {
            "scalp_20260105_09.jsonl.zst": hashlib.sha256(b"closed").hexdigest(),
            "scalp_20260105_10.jsonl": None,
            "swing_20260105_09.jsonl": None,
        },
        "last_seq": {"scalp": 8, "swing": 3},  # a torn last line is not counted
    }


async def test_replacement_pod_never_ready(api: Api) -> None:
    api.state.states = {"observer-7d9c6b5f4-x2k8p": STATE_X}
    api.state.ready_after_polls = -1
    found = lines(await run(api, restart_test=True, timeout=0.3))
    assert found == [
        "restart Pod/observer-7d9c6b5f4-x2k8p deleted: no new Ready pod within 0.3 s after the "
        "deletion"
    ]


async def test_cli_cluster_exit_codes(api: Api, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["cluster", "-n", NS, "--kubeconfig", str(api.kubeconfig)]
    good = await asyncio.to_thread(runner.invoke, verify_group, args)
    assert good.exit_code == 0, good.output
    assert good.output.splitlines()[-1].startswith(f"verify cluster {NS}: OK")
    api.state.pvcs["items"][0]["status"] = {"phase": "Lost"}
    bad = await asyncio.to_thread(runner.invoke, verify_group, [*args, "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["failed"] == 1
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    cannot = await asyncio.to_thread(
        runner.invoke, verify_group, ["cluster", "-n", NS, "--kubeconfig", str(broken)]
    )
    assert cannot.exit_code == 2
    assert "no usable Kubernetes configuration" in cannot.output
