"""`observer kis decode` rejects a line it cannot encode and goes on; a missing file is one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from tests.kis.frame_builder import frame, trade_fields
from tests.service_process import OBSERVER


def test_a_25_digit_price_is_rejected_and_decoding_goes_on(tmp_path: Path) -> None:
    huge = trade_fields("000660")
    huge[2] = "1" * 25  # the price: parses, but no JSON integer holds it
    lines = [frame("H0STCNT0", [trade_fields("005930")]), frame("H0STCNT0", [huge]),
             frame("H0STCNT0", [trade_fields("035420")])]  # fmt: skip
    path = tmp_path / "frames.txt"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run([*OBSERVER, "kis", "decode", str(path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert "Traceback" not in done.stderr
    assert done.returncode == 1  # a rejected line
    symbols = [orjson.loads(line)["symbol"] for line in done.stdout.splitlines()]
    assert symbols == ["005930", "035420"]
    assert f"{path}:2: rejected: unencodable" in done.stderr
    assert "2 records from 3 lines, 1 lines rejected" in done.stderr


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    done = subprocess.run([*OBSERVER, "kis", "decode", str(missing)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == f"kis decode: {missing}: no such file"
