"""An immutable path in a test (``chattr +i``; the tests run as root): undone whatever happens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` cannot be changed, created in or removed inside the block."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
