"""Built-in kinds pass kubernetes-validate (strict); custom resources pass the repo's schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.conftest import DEPLOY, OVERLAYS, find

SCHEMAS = DEPLOY / "schemas"
CUSTOM_GROUPS = ("bitnami.com", "monitoring.coreos.com", "argoproj.io")
Doc = dict[str, Any]


def schema_for(doc: Doc) -> Path:
    group, _, version = doc["apiVersion"].rpartition("/")
    return SCHEMAS / f"{doc['kind'].lower()}.{group}.{version}.json"


def is_custom(doc: Doc) -> bool:
    return doc["apiVersion"].split("/")[0] in CUSTOM_GROUPS


def validate_custom(doc: Doc) -> None:
    schema = json.loads(schema_for(doc).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("name", [*OVERLAYS, "base", "argocd"])
def test_every_resource_is_valid(name: str, rendered: dict[str, Any]) -> None:
    docs, _ = rendered[name]
    for doc in docs:
        if is_custom(doc):
            assert schema_for(doc).is_file(), f"no schema for {doc['apiVersion']} {doc['kind']}"
            validate_custom(doc)
        else:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_strict_validation_rejects_a_misspelt_field(rendered: dict[str, Any]) -> None:
    docs, _ = rendered["production"]
    deployment = copy.deepcopy(find(docs, "Deployment", "observer"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize(
    ("kind", "name", "path", "bad"),
    [
        ("SealedSecret", "obs-kis-secret", ("spec",), {"encryptedDta": {"A": "b"}}),
        ("ServiceMonitor", "observer", ("spec", "endpoints"), []),
        ("PrometheusRule", "observer", ("spec", "groups", 0, "rules", 0, "for"), "five minutes"),
        ("Application", "observer-prod", ("spec", "syncPolicy", "automated"), {"selfheal": True}),
        ("AppProject", "observer", ("spec", "destinations"), []),
    ],
)
def test_custom_schemas_reject_broken_resources(
    rendered: dict[str, Any], kind: str, name: str, path: tuple[Any, ...], bad: Any
) -> None:
    docs = rendered["argocd" if kind in ("Application", "AppProject") else "production"][0]
    doc = copy.deepcopy(find(docs, kind, name))
    validate_custom(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(doc)
