"""Building the package: no warnings, the C extension and the dashboard's vendored files inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Lines the machine's own pip configuration may print (an index location that does not exist);
# they are not about this project.
FOREIGN = ("WARNING: Location 'file://",)


def test_the_wheel_builds_without_warnings_and_ships_the_dashboard(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    output = [
        line for line in (done.stdout + done.stderr).splitlines() if not line.startswith(FOREIGN)
    ]
    assert not [line for line in output if "warning" in line.lower()], "\n".join(output)
    (wheel,) = tmp_path.glob("observer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(n.startswith("observer/store/_tickcopy.") and n.endswith(".so") for n in names)
    for vendored in ("uplot.iife.min.js", "uplot.min.css", "uplot.LICENSE"):
        assert f"observer/api/static/vendor/{vendored}" in names
    assert "observer/api/static/dashboard.js" in names
