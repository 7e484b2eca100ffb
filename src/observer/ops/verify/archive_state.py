"""What the restart test compares: the archive's files with the checksum of each closed one,
and the last seq of each stream. Run inside the pod (``python -m
observer.ops.verify.archive_state ASSETS_DIR``) before and after the pod is replaced; prints
one JSON document. Closed files (``*.jsonl.zst``, ``manifest_*.sha256``) never change once
written, so their checksums must match; open and plain hours may grow, so only their names
and the streams' last seq are compared (the seq must not go back).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from observer.archive.compress import sha256_file
from observer.archive.files import files_by_stream, newest_seq


def archive_state(assets: Path) -> dict[str, Any]:
    """{"files": {name: sha256 or null}, "last_seq": {stream: seq}} of an archive directory."""
    files: dict[str, str | None] = {}
    for path in sorted(assets.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        closed = path.name.endswith(".jsonl.zst") or (
            path.name.startswith("manifest_") and path.name.endswith(".sha256")
        )
        files[path.name] = sha256_file(path) if closed else None
    last_seq = {stream: newest_seq(assets, stream) for stream in files_by_stream(assets)}
    return {"files": files, "last_seq": {k: v for k, v in last_seq.items() if v is not None}}


def main() -> None:
    sys.stdout.write(json.dumps(archive_state(Path(sys.argv[1])), sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
