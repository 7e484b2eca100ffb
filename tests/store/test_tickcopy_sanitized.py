"""The C extension built with AddressSanitizer and UndefinedBehaviorSanitizer, fuzzed with
200,000 mutated archive lines in a subprocess (``tickcopy_fuzz.py``): any out-of-bounds access,
use after free or undefined behaviour aborts it and fails the test. The driver also checks that
a refused ``configure()`` leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "observer" / "store" / "_tickcopy.c"
DRIVER = Path(__file__).resolve().parent / "tickcopy_fuzz.py"
FUZZ_LINES = 200_000


def _runtime(cc: str, name: str) -> str | None:
    found = subprocess.run(
        [cc, f"-print-file-name={name}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_sanitized_extension_survives_fuzzing(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc is not None, "no C compiler: the extension itself could not be built either"
    asan = _runtime(cc, "libasan.so")
    assert asan is not None, "the compiler has no AddressSanitizer runtime"
    target = tmp_path / ("_tickcopy" + str(sysconfig.get_config_var("EXT_SUFFIX")))
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
         "-Wall", "-Wextra", f"-I{sysconfig.get_paths()['include']}",
         str(SOURCE), "-o", str(target)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    env = {
        **os.environ,
        "LD_PRELOAD": asan,
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    run = subprocess.run(
        [sys.executable, str(DRIVER), str(tmp_path), str(FUZZ_LINES), "15"],
        env=env, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    assert "ERROR: AddressSanitizer" not in run.stderr
    assert "runtime error" not in run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    fuzzed, taken = (int(word) for word in summary.replace(",", "").split() if word.isdigit())
    assert fuzzed >= FUZZ_LINES and 0 < taken < fuzzed
