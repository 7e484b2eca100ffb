"""Captured-style frames under tests/data/frames: exact record counts, no unexpected rejects;
and `observer kis decode` over them."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from observer.kis.frames import ControlMessage, DataMessage, PingPong, parse_message

ROOT = Path(__file__).resolve().parents[2]
FRAMES = ROOT / "tests" / "data" / "frames"
EXPECTED = {
    "h0stcnt0_single.txt": {"H0STCNT0": 12},
    "h0stcnt0_multi.txt": {"H0STCNT0": 13, "H0NXCNT0": 2, "H0UNCNT0": 1},
    "h0stcnt0_47fields.txt": {"H0STCNT0": 6},
    "h0stasp0_book.txt": {"H0STASP0": 5},
    "control.txt": {},
}


def test_replay_gives_exact_counts_per_tr_and_no_rejects() -> None:
    assert sorted(p.name for p in FRAMES.glob("*.txt")) == sorted(EXPECTED)
    for name, expected in EXPECTED.items():
        counts: Counter[str] = Counter()
        for line in (FRAMES / name).read_text().splitlines():
            message = parse_message(line, 1)
            assert isinstance(message, DataMessage | ControlMessage | PingPong), (name, message)
            if isinstance(message, DataMessage):
                assert not message.rejects, (name, message.rejects)
                counts.update(r.tr_id for r in message.records)
        assert dict(counts) == expected, name


def run_decode(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "observer", "kis", "decode", *args],
        input=stdin, capture_output=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip


def test_decode_command_writes_one_object_per_record() -> None:
    files = [str(FRAMES / name) for name in EXPECTED]
    result = run_decode(*files)
    assert result.returncode == 0, result.stderr
    objects = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == sum(sum(c.values()) for c in EXPECTED.values())
    first = objects[0]
    assert set(first) == {"tr_id", "symbol", "data", "raw"}
    assert first["tr_id"] == "H0STCNT0" and first["data"]["trade_ts"].endswith("+09:00")


def test_decode_reports_rejected_lines_and_exits_1() -> None:
    good = (FRAMES / "h0stasp0_book.txt").read_text().splitlines()[0]
    stdin = "\n".join([good, "0|H0STCNT0|002|a^b^c", "", "1|H0STCNT0|001|xyz", good]) + "\n"
    result = run_decode(stdin=stdin.encode())
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2
    err = result.stderr.decode()
    assert "<stdin>:2: rejected: 3 fields do not divide into 2 records" in err
    assert "<stdin>:4: rejected: encrypted" in err
