"""End to end: the running service's archive file turns immutable mid-session; /ready fails
while writes are refused, and once they succeed an archive_refused gap is in the archive."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.immutable import immutable
from tests.service_process import ServiceProcess, get


def gaps(home: Path) -> list[dict[str, object]]:
    found = []
    for path in sorted((home / "data" / "assets").glob("system_*.jsonl")):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            if record["data"].get("reason") == "archive_refused":
                found.append(record["data"])
    return found


def test_refused_writes_fail_ready_and_end_in_a_gap(home: Path) -> None:
    service = ServiceProcess(home, OBSERVER_CLOCK_START="2026-01-05T10:10:00+09:00")
    assets = home / "data" / "assets"
    with service:
        service.start()
        service.wait_for(lambda: any(assets.glob("scalp_*.jsonl")), 60, "scalp records")
        scalp = next(assets.glob("scalp_*.jsonl"))
        with immutable(scalp):
            service.wait_for(
                lambda: "archive writes failing since" in str(get(service.url + "/ready")),
                30,
                "/ready 503 naming the refused writes",
            )
        service.wait_for(lambda: get(service.url + "/ready")[0] == 200, 30, "/ready 200 again")
        service.wait_for(lambda: bool(gaps(home)), 30, "the archive_refused gap")
        assert service.terminate() == 0
    found = gaps(home)
    assert [g["stream"] for g in found] == ["scalp"]
    assert isinstance(found[0]["records"], int) and found[0]["records"] > 0
