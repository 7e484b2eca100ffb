"""Frame parser throughput: H0STCNT0 frames with one and with four records, one core."""

from __future__ import annotations

import time

from observer.kis.frames import DataMessage, parse_message

FIELDS = [
    "005930", "090001", "71000", "2", "500", "0.71", "70950.12", "70500", "71200", "70400",
    "71100", "71000", "10", "123456", "8765432100", "100", "120", "20", "110.50", "5000",
    "6000", "1", "54.55", "88.10", "090000", "2", "500", "091500", "5", "-200", "090300",
    "2", "600", "20260105", "20", "N", "300", "400", "50000", "60000", "0.05", "100000",
    "95.5", "0", "00", "0",
]  # fmt: skip


def frame(count: int) -> str:
    """A plain H0STCNT0 frame carrying ``count`` records with distinct trade times."""
    records = []
    for i in range(count):
        fields = list(FIELDS)
        fields[1] = f"0900{i:02d}"
        fields[13] = str(123456 + i * 10)
        records.append("^".join(fields))
    return f"0|H0STCNT0|{count:03d}|" + "^".join(records)


def measure(count: int, seconds: float = 1.5) -> tuple[float, float]:
    """Records parsed per wall-clock second and per CPU second for ``count``-record frames.

    CPU time (``time.process_time``) is what "on one core" means when other processes share
    the machine; wall time is shown next to it.
    """
    text = frame(count)
    message = parse_message(text, 0)
    assert isinstance(message, DataMessage) and len(message.records) == count
    assert not message.rejects
    frames = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            parse_message(text, 0)
        frames += 1000
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return frames * count / wall, frames * count / cpu


def main() -> None:
    for count in (1, 4):
        runs = sorted((measure(count) for _ in range(3)), key=lambda run: run[1])
        wall, cpu = runs[-1]
        print(
            f"H0STCNT0 {count}-record frames: {cpu:,.0f} records/s per CPU second "
            f"({wall:,.0f} wall; best of 3)"
        )


if __name__ == "__main__":
    main()
