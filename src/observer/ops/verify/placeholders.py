"""Values committed as placeholders that a user must replace before production.

The repository ships an example image registry, placeholder sealed-secret ciphertext and an
example Git URL so that it renders and tests offline. Each is a FAIL when the rendered
resources target a production namespace (``prod`` or ``production`` as a word of the name)
unless placeholders are allowed (the repository's own tests and CI pass
``--allow-placeholders``); elsewhere each is reported as a SKIP.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from observer.ops.verify.inventory import Doc, Inventory
from observer.ops.verify.report import Report

_EXAMPLE_HOST = re.compile(r"(^|[./@])example(\.[a-z]+)+([:/]|$)|placeholder|change-?me", re.I)
_PRODUCTION = re.compile(r"(^|-)prod(uction)?(-|$)")
MIN_CIPHERTEXT_BYTES = 64  # kubeseal output is hundreds of bytes of base64


def is_production(namespace: str | None) -> bool:
    return bool(namespace) and bool(_PRODUCTION.search(str(namespace)))


def _ciphertext_problem(value: object) -> str | None:
    text = str(value)
    if _EXAMPLE_HOST.search(text):
        return "is a placeholder"
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "is not base64 ciphertext"
    if len(raw) < MIN_CIPHERTEXT_BYTES:
        return f"is {len(raw)} bytes, too short for kubeseal ciphertext"
    return None


def _namespace(doc: Doc) -> str | None:
    namespace = (doc.get("metadata") or {}).get("namespace")
    if doc.get("kind") == "Application":
        namespace = ((doc.get("spec") or {}).get("destination") or {}).get("namespace")
    return str(namespace) if namespace else None


def placeholders(inventory: Inventory) -> Iterator[tuple[Doc, str]]:
    """(resource, description) for every placeholder value in the rendered manifests."""
    for doc in inventory.docs:
        kind = doc.get("kind")
        ref = f"{kind}/{(doc.get('metadata') or {}).get('name')}"
        spec = doc.get("spec") or {}
        if kind == "SealedSecret":
            for key, value in sorted((spec.get("encryptedData") or {}).items()):
                problem = _ciphertext_problem(value)
                if problem:
                    yield doc, f"{ref} spec.encryptedData.{key} {problem}; seal it with kubeseal"
        elif kind == "Application":
            url = str((spec.get("source") or {}).get("repoURL", ""))
            if _EXAMPLE_HOST.search(url):
                yield doc, f"{ref} spec.source.repoURL {url} is an example; expected your Git URL"
        elif kind == "AppProject":
            for url in spec.get("sourceRepos") or []:
                if _EXAMPLE_HOST.search(str(url)):
                    yield doc, f"{ref} spec.sourceRepos {url} is an example"
    for workload in inventory.workloads:
        for container in workload.containers():
            image = str(container.get("image", ""))
            registry = image.split("/", 1)[0] if "/" in image else ""
            if _EXAMPLE_HOST.search(registry + "/"):
                yield (
                    workload.doc,
                    f"{workload.ref} container {container.get('name')} image {image}: example "
                    "registry; expected your registry (images: in the overlay)",
                )


def check_placeholders(inventory: Inventory, report: Report, *, allowed: bool) -> None:
    """FAIL for each placeholder in a production namespace unless allowed; SKIP otherwise."""
    found = False
    for doc, what in placeholders(inventory):
        found = True
        namespace = _namespace(doc)
        if is_production(namespace) and not allowed:
            report.failed(
                "placeholder",
                f"{what} (namespace {namespace}); replace it (docs/deploying.md) or pass "
                "--allow-placeholders",
            )
        elif is_production(namespace):
            report.skipped("placeholder", f"{what} (allowed by --allow-placeholders)")
        else:
            report.skipped("placeholder", f"{what} (namespace {namespace}: not production)")
    if not found:
        report.passed("placeholder", "no placeholder value in the rendered manifests")
