"""What a set of rendered manifests contains, indexed for the checks.

Nothing here knows our resource names: workloads, ConfigMaps, Secrets and claims are found by
kind and by reference, so the checks work on any Kustomize tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from observer.config.paths import PATH_VARS

POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"})
RWO_MODES = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})

Doc = dict[str, Any]


@dataclass(frozen=True)
class EnvValue:
    """One environment variable of a container and where it comes from."""

    value: str | None  # None when it comes from a Secret or a fieldRef (not known statically)
    origin: str


@dataclass
class Workload:
    """A resource that runs pods, with its pod spec unwrapped."""

    kind: str
    name: str
    namespace: str | None
    doc: Doc
    pod_spec: Doc
    pod_labels: dict[str, str]

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def long_running(self) -> bool:
        return self.kind in LONG_RUNNING_KINDS

    @property
    def replicas(self) -> int:
        value = self.doc.get("spec", {}).get("replicas", 1)
        return int(value) if isinstance(value, int) else 1

    def containers(self, *, init: bool = True) -> list[Doc]:
        found = list(self.pod_spec.get("containers") or [])
        if init:
            found = list(self.pod_spec.get("initContainers") or []) + found
        return found

    def volumes(self) -> dict[str, Doc]:
        return {v["name"]: v for v in self.pod_spec.get("volumes") or [] if "name" in v}

    def claim_templates(self) -> set[str]:
        templates = self.doc.get("spec", {}).get("volumeClaimTemplates") or []
        return {t.get("metadata", {}).get("name", "") for t in templates}


@dataclass(frozen=True)
class Mount:
    """The volume a path lives on inside one container."""

    mount_path: str
    volume_name: str
    read_only: bool
    source: str  # persistentVolumeClaim, volumeClaimTemplate, emptyDir, hostPath, configMap, ...
    claim: str | None


@dataclass
class Inventory:
    """Every rendered resource, indexed by what the checks look up."""

    docs: list[Doc]
    workloads: list[Workload] = field(default_factory=list)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, set[str]] = field(default_factory=dict)  # produced name -> keys
    secret_producers: dict[str, str] = field(default_factory=dict)  # name -> "SealedSecret/x"
    claims: dict[str, Doc] = field(default_factory=dict)
    network_policies: list[Doc] = field(default_factory=list)

    @classmethod
    def build(cls, docs: list[Doc]) -> Inventory:
        inventory = cls(docs)
        for doc in docs:
            inventory._add(doc)
        return inventory

    def _add(self, doc: Doc) -> None:
        kind = str(doc.get("kind", ""))
        meta = doc.get("metadata") or {}
        name = str(meta.get("name", ""))
        if kind == "ConfigMap":
            data = {**(doc.get("data") or {}), **(doc.get("binaryData") or {})}
            self.config_maps[name] = {str(k): str(v) for k, v in data.items()}
        elif kind == "Secret":
            keys = set(doc.get("data") or {}) | set(doc.get("stringData") or {})
            self.secrets[name] = keys
            self.secret_producers[name] = f"Secret/{name}"
        elif kind == "SealedSecret":
            spec = doc.get("spec") or {}
            produced = (spec.get("template") or {}).get("metadata", {}).get("name") or name
            self.secrets[produced] = set(spec.get("encryptedData") or {}) | set(
                (spec.get("template") or {}).get("data") or {}
            )
            self.secret_producers[produced] = f"SealedSecret/{name}"
        elif kind == "PersistentVolumeClaim":
            self.claims[name] = doc
        elif kind == "NetworkPolicy":
            self.network_policies.append(doc)
        workload = _workload_of(kind, name, meta.get("namespace"), doc)
        if workload is not None:
            self.workloads.append(workload)

    def claim_modes(self, claim: str) -> set[str]:
        spec = self.claims.get(claim, {}).get("spec") or {}
        return set(spec.get("accessModes") or [])

    def observer_workloads(self) -> list[tuple[Workload, Doc]]:
        """(workload, container) pairs that run Observer (by environment or image), init
        containers included (the migration Job runs `observer db migrate` as one)."""
        found = []
        for workload in self.workloads:
            for container in workload.containers():
                if is_observer_container(container, self):
                    found.append((workload, container))
        return found


def _workload_of(kind: str, name: str, namespace: Any, doc: Doc) -> Workload | None:
    spec = doc.get("spec") or {}
    if kind == "Pod":
        template: Doc = {"metadata": doc.get("metadata") or {}, "spec": spec}
    elif kind == "CronJob":
        template = (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or {}
    elif kind in POD_TEMPLATE_KINDS:
        template = spec.get("template") or {}
    else:
        return None
    labels = (template.get("metadata") or {}).get("labels") or {}
    return Workload(
        kind,
        name,
        str(namespace) if namespace else None,
        doc,
        template.get("spec") or {},
        {str(k): str(v) for k, v in labels.items()},
    )


def is_observer_container(container: Doc, inventory: Inventory) -> bool:
    """A container runs Observer when its environment speaks our contract or its image is ours."""
    env = resolved_env(container, inventory)
    if any(name.startswith("OBSERVER_") or name in PATH_VARS for name in env):
        return True
    image = str(container.get("image", ""))
    repository = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    return "observer" in repository


def resolved_env(container: Doc, inventory: Inventory) -> dict[str, EnvValue]:
    """The container's environment: envFrom first, then env (which wins), as Kubernetes does."""
    env: dict[str, EnvValue] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix", ""))
        if "configMapRef" in source:
            name = str(source["configMapRef"].get("name", ""))
            for key, value in inventory.config_maps.get(name, {}).items():
                env[prefix + key] = EnvValue(value, f"ConfigMap {name}")
        elif "secretRef" in source:
            name = str(source["secretRef"].get("name", ""))
            for key in inventory.secrets.get(name, set()):
                env[prefix + key] = EnvValue(None, f"Secret {name}")
    for item in container.get("env") or []:
        name = str(item.get("name", ""))
        if "value" in item:
            env[name] = EnvValue(str(item["value"]), "env")
            continue
        ref = item.get("valueFrom") or {}
        if "configMapKeyRef" in ref:
            cm, key = ref["configMapKeyRef"].get("name", ""), ref["configMapKeyRef"].get("key", "")
            found = inventory.config_maps.get(cm, {}).get(key)
            if found is not None:
                env[name] = EnvValue(found, f"ConfigMap {cm} key {key}")
        elif "secretKeyRef" in ref:
            env[name] = EnvValue(None, f"Secret {ref['secretKeyRef'].get('name', '')}")
        else:
            env[name] = EnvValue(None, "fieldRef")
    return env


def mount_for(path: str, container: Doc, workload: Workload) -> Mount | None:
    """The volume mount holding ``path`` in this container (the deepest mount at or above it)."""
    target = PurePosixPath(path)
    best: Doc | None = None
    for mount in container.get("volumeMounts") or []:
        mount_path = PurePosixPath(str(mount.get("mountPath", "")))
        if target == mount_path or mount_path in target.parents:
            current = PurePosixPath(str(best["mountPath"])) if best else None
            if current is None or len(mount_path.parts) > len(current.parts):
                best = mount
    if best is None:
        return None
    volume_name = str(best.get("name", ""))
    volume = workload.volumes().get(volume_name)
    if volume is None:
        if volume_name in workload.claim_templates():
            return Mount(
                str(best["mountPath"]),
                volume_name,
                bool(best.get("readOnly")),
                "volumeClaimTemplate",
                volume_name,
            )
        return Mount(
            str(best["mountPath"]), volume_name, bool(best.get("readOnly")), "missing", None
        )
    source = next((key for key in volume if key != "name"), "unknown")
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    return Mount(str(best["mountPath"]), volume_name, bool(best.get("readOnly")), source, claim)


def claim_names(workload: Workload) -> dict[str, str]:
    """Claim name -> volume name for every persistentVolumeClaim volume of the workload."""
    claims = {}
    for name, volume in workload.volumes().items():
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            claims[str(claim)] = name
    return claims


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) matches these labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator = expr.get("key", ""), expr.get("operator", "")
        values = set(expr.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
