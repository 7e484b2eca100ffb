"""Crash safety with real processes: SIGKILL mid-stream, and a file-size limit mid-batch."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import orjson

from observer.archive.files import files_by_stream
from observer.archive.reader import ArchiveReader
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.metrics import Metrics

from .conftest import make_record

SCRIPT = Path(__file__).with_name("writer_process.py")
ACKS_BEFORE_KILL = 1500


def run_and_kill(assets: Path) -> dict[str, list[int]]:
    """Start the writer process, SIGKILL it mid-stream; every seq it acknowledged, by stream."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(assets), "stream"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    acked: dict[str, list[int]] = defaultdict(list)
    count = 0
    try:
        assert proc.stdout.readline() == b"started\n"
        while count < ACKS_BEFORE_KILL:
            line = proc.stdout.readline()
            assert line, "writer process ended early"
            stream, seq = line.split()
            acked[stream.decode()].append(int(seq))
            count += 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
    for line in rest.splitlines():
        parts = line.split()
        if len(parts) == 2:  # a line cut by the kill is not an acknowledgement we saw
            acked[parts[0].decode()].append(int(parts[1]))
    return acked


def stored_seqs(assets: Path) -> dict[str, list[int]]:
    """Every line of every file must parse; the seqs per stream in file order."""
    seqs: dict[str, list[int]] = {}
    for stream, files in files_by_stream(assets).items():
        for name, path in files:
            if name.compressed:  # an hour that ended during the test; checked by its reader
                continue
            data = path.read_bytes()
            assert not data or data.endswith(b"\n"), f"{path.name} ends in a partial line"
        seqs[stream] = [
            orjson.loads(line)["seq"] for line, _ in ArchiveReader(assets).iter_lines(stream)
        ]
    return seqs


async def test_sigkill_loses_nothing_acknowledged_and_seq_continues(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    all_acked: dict[str, set[int]] = defaultdict(set)
    for _ in range(2):  # kill, restart (recovery in the new process), kill again
        for stream, seqs in run_and_kill(assets).items():
            assert seqs == sorted(seqs)  # acknowledged in seq order
            all_acked[stream].update(seqs)
    # Power loss can tear the tail of a file; so can SIGKILL, which may cut a large write()
    # short. Tear the newest scalp file on purpose; a kill may have torn another newest file.
    newest = {stream: files[-1][1].name for stream, files in files_by_stream(assets).items()}
    newest_scalp = files_by_stream(assets)["scalp"][-1][1]
    with newest_scalp.open("ab") as fh:
        fh.write(b'{"v":1,"stream":"scalp","seq":999999,"recv_ns":17')
    metrics = Metrics()
    writer = ArchiveWriter(assets, Clock(), metrics)
    report = await writer.start()
    truncated = [t.file for t in report.truncations]
    assert newest_scalp.name in truncated
    assert set(truncated) <= set(newest.values())  # only tails the writer was appending to
    seqs = stored_seqs(assets)
    for stream in ("scalp", "system"):
        assert all_acked[stream] <= set(seqs[stream]), "an acknowledged record is missing"
        assert seqs[stream] == list(range(1, len(seqs[stream]) + 1))  # no hole, no duplicate
        assert report.last_seq[stream] == len(seqs[stream])
    futures = {
        s: await writer.submit(make_record(s, Clock().now_ns())) for s in ("scalp", "system")
    }
    for stream, future in futures.items():
        assert await future == len(seqs[stream]) + 1
    await writer.close()
    records = list(ArchiveReader(assets).iter_records("scalp"))
    assert all(r["stream"] == "scalp" and r["data"]["pad"] for r in records[:-1])


def test_file_size_limit_fails_the_batch_and_leaves_no_partial_line(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    limit = 40_000
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(assets), "fsize", str(limit)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    summary = orjson.loads(done.stdout.splitlines()[-1])
    assert summary["errno"] == errno.EFBIG
    assert summary["acked"] > 0
    assert summary["after"] == summary["acked"] + 1  # the failed batch gave its seqs back
    [path] = [p for p in assets.iterdir() if p.name.startswith("scalp_")]
    data = path.read_bytes()
    assert data.endswith(b"\n")
    seqs = [orjson.loads(line)["seq"] for line in data.splitlines()]
    assert seqs == list(range(1, summary["after"] + 1))
    assert len(data) - len(data.splitlines()[-1]) - 1 <= limit  # nothing past the limit kept
