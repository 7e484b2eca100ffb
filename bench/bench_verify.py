"""How long ``observer verify manifests`` takes: the render (kubectl kustomize) and the checks.

Run: .venv/bin/python bench/bench_verify.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from observer.ops.verify.inventory import Inventory
from observer.ops.verify.manifests import check_inventory, verify_manifests
from observer.ops.verify.render import render_kustomize
from observer.ops.verify.report import Report

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "deploy" / "overlays" / "production"


def timed(label: str, runs: int, action: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    print(f"{label:<44} median {median * 1000:8.2f} ms  (min {min(samples) * 1000:.2f}, n={runs})")
    return median


def main() -> None:
    docs = render_kustomize(OVERLAY).docs
    print(f"production overlay: {len(docs)} resources")
    timed("kubectl kustomize (render only)", 10, lambda: render_kustomize(OVERLAY))
    timed(
        "checks on the rendered inventory",
        200,
        lambda: check_inventory(Inventory.build(docs), Report("bench"), set()),
    )
    timed("verify manifests end to end", 10, lambda: verify_manifests(OVERLAY))
    big = docs * 50
    timed(
        f"checks on {len(big)} resources (50x the overlay)",
        5,
        lambda: check_inventory(Inventory.build(big), Report("bench"), set()),
    )


if __name__ == "__main__":
    main()
