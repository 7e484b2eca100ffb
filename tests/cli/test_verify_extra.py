"""``observer verify cluster`` without the optional Kubernetes client names the extra to install."""

from __future__ import annotations

import subprocess
import sys

# The CLI in a fresh interpreter in which ``import kubernetes`` fails, as in an install without
# the ``verify`` extra.
WITHOUT_CLIENT = (
    "import sys; sys.modules['kubernetes'] = None;"
    "sys.argv = ['observer', 'verify', 'cluster', '-n', 'observer-prod'];"
    "from observer.cli.main import main; main()"
)


def test_missing_kubernetes_client_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_CLIENT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "observer[verify]" in lines[0] and "Traceback" not in done.stderr
