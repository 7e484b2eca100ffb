"""``observer verify cluster``: the checklist through the Kubernetes API.

PVCs Bound, the one pod Ready, its data/logs/universe volumes backed by PVCs, its ConfigMap
complete; optionally a restart test: record the archive's state (files, checksums of the
closed ones, last seq per stream), delete the pod, wait for the new pod to be Ready, record
again and compare. A claim Pending because no pod uses it yet is reported as SKIP.
Uses the official client with a kubeconfig or in-cluster.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from observer.ops.verify.exceptions import VerifyError
from observer.ops.verify.inventory import (
    Inventory,
    Workload,
    is_observer_container,
    resolved_env,
)
from observer.ops.verify.manifests import check_environment, check_persistence
from observer.ops.verify.report import Report

log = logging.getLogger(__name__)
Doc = dict[str, Any]
# Runs in the pod (the image has the package): prints the archive's state as JSON.
ARCHIVE_STATE_COMMAND = ("python", "-m", "observer.ops.verify.archive_state")


def _phase(claim: Any) -> str | None:
    return claim.status.phase if claim.status else None


@dataclass
class ClusterTarget:
    """What to check and how to reach it."""

    namespace: str
    kubeconfig: str | None = None
    context: str | None = None
    selector: str = "app.kubernetes.io/name=observer"
    restart_test: bool = False
    timeout: float = 300.0
    poll_seconds: float = 2.0


def api_client(kubeconfig: str | None, context: str | None) -> Any:
    """An ApiClient from the kubeconfig given, else in-cluster, else the default kubeconfig."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as exc:
        raise VerifyError(
            "the Kubernetes client is not installed: pip install 'observer[verify]'"
        ) from exc

    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                return client.ApiClient(configuration)
            except ConfigException:
                log.debug("not in a cluster; trying the kubeconfig")
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (ConfigException, OSError) as exc:
        raise VerifyError(f"no usable Kubernetes configuration: {exc}") from exc
    return client.ApiClient(configuration)


class ClusterVerifier:
    """Runs the cluster checks with one ApiClient."""

    def __init__(
        self, target: ClusterTarget, api: Any, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        from kubernetes import client

        self.target = target
        self.api = api
        self.core = client.CoreV1Api(api)
        self._monotonic = monotonic

    def _call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return function(*args, **kwargs)
        except ApiException as exc:
            raise VerifyError(f"{what}: API answered {exc.status} {exc.reason}") from exc
        except HTTPError as exc:
            raise VerifyError(f"{what}: {exc}") from exc

    def _dict(self, obj: Any) -> Doc:
        result: Doc = self.api.sanitize_for_serialization(obj)
        return result

    def run(self) -> Report:
        ns = self.target.namespace
        report = Report(f"verify cluster {ns}")
        self.check_claims(report)
        pod = self.current_pod(report)
        if pod is None:
            return report
        inventory = self.pod_inventory(pod, report)
        workload = inventory.workloads[0]
        for container in workload.containers(init=False):
            if is_observer_container(container, inventory):
                check_environment(workload, container, inventory, report)
                check_persistence(workload, container, inventory, report)
                if self.target.restart_test:
                    self.restart_test(workload, container, inventory, report)
                break
        return report

    def check_claims(self, report: Report) -> None:
        """Every PVC of the namespace is Bound, or Pending only because no pod uses it yet."""
        ns = self.target.namespace
        claims = self._call("list PVCs", self.core.list_namespaced_persistent_volume_claim, ns)
        if not claims.items:
            report.failed(
                "pvc", f"namespace {ns} has no PersistentVolumeClaim; expected the data claims"
            )
        used = self._claims_in_use() if any(_phase(c) != "Bound" for c in claims.items) else {}
        for claim in claims.items:
            name = claim.metadata.name
            phase = _phase(claim)
            capacity = (claim.status.capacity or {}).get("storage", "?") if claim.status else "?"
            if phase == "Bound":
                report.passed(
                    "pvc",
                    f"PersistentVolumeClaim/{name} Bound "
                    f"({capacity}, volume {claim.spec.volume_name})",
                )
            elif phase == "Pending" and name not in used:
                report.skipped(
                    "pvc",
                    f"PersistentVolumeClaim/{name} Pending: no pod uses it yet (a "
                    "WaitForFirstConsumer class binds it when the first pod, e.g. a CronJob's "
                    "run, mounts it)",
                )
            else:
                users = ", ".join(used.get(name, []))
                report.failed(
                    "pvc",
                    f"PersistentVolumeClaim/{name} status.phase is {phase}"
                    f"{f' while Pod/{users} uses it' if users else ''}; expected Bound",
                )

    def _claims_in_use(self) -> dict[str, list[str]]:
        """Claim name -> pods of the namespace that mount it."""
        pods = self._call("list pods", self.core.list_namespaced_pod, self.target.namespace)
        used: dict[str, list[str]] = {}
        for pod in pods.items:
            for volume in pod.spec.volumes or []:
                source = volume.persistent_volume_claim
                if source is not None:
                    used.setdefault(source.claim_name, []).append(pod.metadata.name)
        return used

    def _pods(self) -> list[Any]:
        ns = self.target.namespace
        pods = self._call(
            "list pods", self.core.list_namespaced_pod, ns, label_selector=self.target.selector
        )
        return [p for p in pods.items if p.metadata.deletion_timestamp is None]

    @staticmethod
    def _ready(pod: Any) -> bool:
        conditions = (pod.status.conditions or []) if pod.status else []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    def current_pod(self, report: Report) -> Any | None:
        """The one pod of the selector, and whether it is Ready."""
        pods = self._pods()
        where = f"namespace {self.target.namespace} selector {self.target.selector}"
        if not pods:
            report.failed("pod", f"no pod in {where}; expected exactly one")
            return None
        if len(pods) > 1:
            names = ", ".join(p.metadata.name for p in pods)
            report.failed("pod", f"{len(pods)} pods in {where} ({names}); expected exactly one")
        pod = pods[0]
        if self._ready(pod):
            report.passed("pod", f"Pod/{pod.metadata.name} Ready (node {pod.spec.node_name})")
        else:
            phase = pod.status.phase if pod.status else None
            report.failed(
                "pod", f"Pod/{pod.metadata.name} is not Ready (phase {phase}); expected Ready"
            )
        return pod

    def pod_inventory(self, pod: Any, report: Report) -> Inventory:
        """The pod plus the ConfigMaps its containers take their environment from."""
        docs: list[Doc] = [{"apiVersion": "v1", "kind": "Pod", **self._dict(pod)}]
        wanted: set[str] = set()
        for container in pod.spec.containers:
            for source in container.env_from or []:
                if source.config_map_ref is not None:
                    wanted.add(source.config_map_ref.name)
        for name in sorted(wanted):
            from kubernetes.client.exceptions import ApiException

            try:
                cm = self.core.read_namespaced_config_map(name, self.target.namespace)
            except ApiException as exc:
                report.failed(
                    "configmap",
                    f"ConfigMap/{name} referenced by Pod/{pod.metadata.name}: "
                    f"API answered {exc.status}; expected it present",
                )
                continue
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", **self._dict(cm)})
            report.passed("configmap", f"ConfigMap/{name} present with {len(cm.data or {})} keys")
        return Inventory.build(docs)

    def archive_state(self, pod_name: str, container: str, assets: str) -> dict[str, Any]:
        """Files (closed ones with their sha256) and last seq per stream, through exec."""
        from kubernetes.stream import stream

        command = [*ARCHIVE_STATE_COMMAND, assets]
        client = self._call(
            f"exec in {pod_name}",
            stream,
            self.core.connect_get_namespaced_pod_exec,
            pod_name,
            self.target.namespace,
            container=container,
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        try:
            client.run_forever(timeout=120)
            out = client.read_channel(1)
            err = client.read_channel(2)
            code = client.returncode
        finally:
            client.close()
            # The library skips closing the socket once the server has closed the session.
            if getattr(client, "sock", None) is not None:
                client.sock.shutdown()
        if code != 0:
            raise VerifyError(f"{' '.join(command)} in {pod_name} exited {code}: {err.strip()}")
        try:
            state: dict[str, Any] = json.loads(out)
        except ValueError as exc:
            raise VerifyError(f"archive state from {pod_name} is not JSON: {exc}") from exc
        return state

    def wait_for_new_pod(self, old_uid: str) -> Any:
        """Poll until a pod other than the deleted one is Ready, or time out."""
        deadline = self._monotonic() + self.target.timeout
        while self._monotonic() < deadline:
            for pod in self._pods():
                if pod.metadata.uid != old_uid and self._ready(pod):
                    return pod
            time.sleep(self.target.poll_seconds)
        raise VerifyError(f"no new Ready pod within {self.target.timeout:g} s after the deletion")

    def restart_test(
        self, workload: Workload, container: Doc, inv: Inventory, report: Report
    ) -> None:
        """Delete the pod; afterwards every archive file is still there, every closed one with
        the same checksum, and no stream's last seq went back."""
        data = resolved_env(container, inv).get("OBSERVER_DATA_DIR")
        if data is None or not data.value:
            report.skipped("restart", "OBSERVER_DATA_DIR unknown; cannot list the archive")
            return
        assets = str(PurePosixPath(data.value) / "assets")
        cname = str(container.get("name"))
        pod_name = workload.name
        try:
            before = self.archive_state(pod_name, cname, assets)
        except VerifyError as exc:
            report.failed("restart", f"cannot list the archive before the restart: {exc}")
            return
        old_uid = str((workload.doc.get("metadata") or {}).get("uid", ""))
        self._call(
            f"delete pod {pod_name}",
            self.core.delete_namespaced_pod,
            pod_name,
            self.target.namespace,
        )
        try:
            new_pod = self.wait_for_new_pod(old_uid)
        except VerifyError as exc:
            report.failed("restart", f"Pod/{pod_name} deleted: {exc}")
            return
        report.passed("restart", f"Pod/{pod_name} deleted; Pod/{new_pod.metadata.name} Ready")
        try:
            after = self.archive_state(new_pod.metadata.name, cname, assets)
        except VerifyError as exc:
            report.failed("restart", f"cannot list the archive after the restart: {exc}")
            return
        compare_states(before, after, assets, report)


def _stem(name: str) -> str:
    """A closed hour may have been compressed meanwhile: x.jsonl and x.jsonl.zst are one file."""
    return name[: -len(".zst")] if name.endswith(".zst") else name


def _shown(names: list[str]) -> str:
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def compare_states(
    before: dict[str, Any], after: dict[str, Any], assets: str, report: Report
) -> None:
    """Every file listed before the restart is there after it, closed files unchanged, and
    each stream's last seq has not gone back."""
    old: dict[str, str | None] = before.get("files") or {}
    new: dict[str, str | None] = after.get("files") or {}
    after_stems = {_stem(n) for n in new}
    problems = []
    lost = sorted(n for n in old if _stem(n) not in after_stems)
    if lost:
        problems.append(f"{len(lost)} file(s) gone after the restart: {_shown(lost)}")
    changed = sorted(n for n, sha in old.items() if sha and n in new and new[n] != sha)
    if changed:
        problems.append(f"{len(changed)} closed file(s) changed content: {_shown(changed)}")
    seqs_after = after.get("last_seq") or {}
    for stream, seq in sorted((before.get("last_seq") or {}).items()):
        now = seqs_after.get(stream)
        if now is None or now < seq:
            problems.append(f"stream {stream} last seq {seq} before, {now} after")
    for problem in problems:
        report.failed("restart", f"{assets}: {problem}; expected nothing lost")
    if problems:
        return
    if not old:
        report.skipped("restart", f"{assets} was empty before the restart; nothing to compare")
        return
    closed = sum(1 for sha in old.values() if sha)
    seqs = ", ".join(
        f"{s} {v} -> {seqs_after.get(s)}" for s, v in sorted((before.get("last_seq") or {}).items())
    )
    report.passed(
        "restart",
        f"{assets}: all {len(old)} files still there ({len(new)} now), {closed} closed file(s) "
        f"with the same sha256, last seq kept ({seqs or 'no open stream'})",
    )


def verify_cluster(target: ClusterTarget, api: Any | None = None) -> Report:
    """Run the cluster checks (building an ApiClient unless one is given)."""
    client = api if api is not None else api_client(target.kubeconfig, target.context)
    try:
        return ClusterVerifier(target, client).run()
    finally:
        if api is None:
            client.close()
