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


def measure(count: int, seconds: float = 2.0) -> float:
    """Records parsed per second for frames of ``count`` records."""
    text = frame(count)
    message = parse_message(text, 0)
    assert isinstance(message, DataMessage) and len(message.records) == count
    frames = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            parse_message(text, 0)
        frames += 1000
    elapsed = time.perf_counter() - start
    return frames * count / elapsed


def main() -> None:
    for count in (1, 4):
        rates = sorted(measure(count, 1.5) for _ in range(3))
        print(
            f"H0STCNT0 {count}-record frames: {rates[-1]:,.0f} records/s "
            f"(best of 3; median {rates[1]:,.0f})"
        )


if __name__ == "__main__":
    main()
