"""What the restart test compares: the archive's files with the checksum of each closed one,
and the last seq of each stream. Run inside the pod (``python -m
observer.ops.verify.archive_state ASSETS_DIR``) before and after the pod is replaced; prints
one JSON document. Closed files (``*.jsonl.zst``, ``manifest_*.sha256``) never change once
written, so their checksums must match; open and plain hours may grow, so only their names
and the streams' last seq are compared (the seq must not go back).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _last_seq(path: Path) -> int | None:
    """The seq of the last complete line of a plain hour (reads only its tail)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    for line in reversed(tail.split(b"\n")):
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            return seq
    return None


def archive_state(assets: Path) -> dict[str, Any]:
    """{"files": {name: sha256 or null}, "last_seq": {stream: seq}} of an archive directory."""
    files: dict[str, str | None] = {}
    newest: dict[str, Path] = {}
    for path in sorted(assets.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        closed = path.name.endswith(".jsonl.zst") or (
            path.name.startswith("manifest_") and path.name.endswith(".sha256")
        )
        files[path.name] = _sha256(path) if closed else None
        if path.name.endswith(".jsonl"):
            newest[path.name.split("_", 1)[0]] = path  # sorted: the last is the newest hour
    last_seq = {stream: _last_seq(path) for stream, path in newest.items()}
    return {"files": files, "last_seq": {k: v for k, v in last_seq.items() if v is not None}}


def main() -> None:
    sys.stdout.write(json.dumps(archive_state(Path(sys.argv[1])), sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
