"""Fuzz driver for the ``_tickcopy`` extension, run by ``test_tickcopy_sanitized.py`` in a
subprocess against a build with AddressSanitizer and UndefinedBehaviorSanitizer.

    python tickcopy_fuzz.py BUILD_DIR LINES SEED

Imports ``_tickcopy`` from BUILD_DIR, checks that a refused ``configure()`` changes nothing,
configures the trade layout of ``observer.store.rows``, then hands the extension LINES mutated
archive lines (bytes flipped, inserted, deleted, spliced, truncated; whole buffers and single
lines) and checks every line it takes is a JSON object. Any memory error or undefined
behaviour aborts the process; the last line printed is ``fuzzed N lines, M taken``.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import orjson

KINDS = {"text": "t", "bigint": "q", "integer": "i", "double precision": "d", "boolean": "?"}
TOKENS = (b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"-", b"e", b".", b"0", b"9",
          b"null", b"true", b"1e999", b"18446744073709551616", b"\x00", b"\xff", b" ", b"\n",
          b'"data":{', b'"flags":["a",',
          b'"trade_ts":"2026-01-05T09:00:00.1234567+09:00"')  # fmt: skip


def _base_lines() -> list[bytes]:
    from observer.store import rows as R

    out = []
    for i in range(8):
        data: dict[str, Any] = {name: None for name, _ in R.TICK_FIELDS}
        data.update(price=70000 + i, acc_volume=10 * (i + 1), trade_volume=10, market="KOSPI",
                    session="regular", vwap=70000.5, halted=bool(i % 2), trade_side="1",
                    business_date="20260105",
                    trade_ts=f"2026-01-05T09:00:0{i}.5+09:00")  # fmt: skip
        rec = {"v": 1, "stream": "scalp", "seq": i, "recv_ns": 1767571200 * 10**9 + i,
               "ts": "2026-01-05T09:00:00+09:00", "source": "kis", "tr_id": "H0STCNT0",
               "symbol": f"00593{i}", "data": data, "flags": ["late"] if i % 3 == 0 else [],
               "raw": "x^y"}  # fmt: skip
        out.append(orjson.dumps(rec))
    return out


def _mutate(rng: random.Random, line: bytes, others: list[bytes]) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del data[at : at + rng.randint(1, 16)]
        elif op == 3:
            other = rng.choice(others)
            start = rng.randrange(len(other))
            data[at:at] = other[start : start + rng.randint(1, 64)]
        elif op == 4:
            del data[at:]
        else:
            data[at : at + 1] = data[at : at + 1] * rng.randint(2, 40)
    return bytes(data).replace(b"\n", b" ")


def _configure_refusals(ext: Any, fields: tuple[tuple[str, str], ...]) -> None:
    """A refused configure() must leave the extension unconfigured; a valid one then works,
    again with the same layout is a no-op, and another layout is refused."""
    bad: list[tuple[Any, Any]] = [
        ((*fields[:-1], ("x", "z")), ("H0STCNT0",)),  # an unknown kind, after valid fields
        (fields, ("H0STCNT0", "X" * 40)),  # a TR id too long, after valid ones
        (tuple(f for f in fields if f[0] != "price"), ("H0STCNT0",)),  # no price
        ((("price", "q"), 7), ("H0STCNT0",)),  # not a pair
        ((), ("H0STCNT0",)),
    ]
    for args in bad:
        try:
            ext.configure(*args)
        except (ValueError, TypeError, RuntimeError):
            pass
        else:
            raise SystemExit(f"configure{args!r} was accepted")
        try:
            ext.encode_lines(b"{}\n", 0, 1, "20260105", 9500, bytearray(), bytearray())
        except RuntimeError:
            continue
        raise SystemExit("a refused configure() left a layout behind")
    ext.configure(fields, ("H0STCNT0", "H0NXCNT0", "H0UNCNT0"))
    ext.configure(fields, ("H0STCNT0", "H0NXCNT0", "H0UNCNT0"))
    try:
        ext.configure(fields[1:], ("H0STCNT0",))
    except RuntimeError:
        return
    raise SystemExit("configure() accepted a second, different layout")


def main() -> None:
    build, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, build)
    import _tickcopy  # the sanitized build

    from observer.store import rows as R

    fields = tuple((name, KINDS[kind]) for name, kind in R.TICK_FIELDS)
    _configure_refusals(_tickcopy, fields)
    rng = random.Random(seed)
    base = _base_lines()
    done = taken = 0
    while done < count:
        lines = [_mutate(rng, rng.choice(base), base) for _ in range(64)]
        lines[rng.randrange(64)] = rng.choice(base)  # some clean lines between the bad
        buffer = b"\n".join(lines) + b"\n" + lines[0][: rng.randrange(len(lines[0]) + 1)]
        pos = 0
        rows, bars = bytearray(), bytearray()
        while True:
            end, got, _, _ = _tickcopy.encode_lines(buffer, pos, 1000, "20260105", 9500, rows, bars)
            taken += got
            if got:
                for line in buffer[pos:end].split(b"\n"):
                    if line and type(orjson.loads(line)) is not dict:
                        raise SystemExit(f"took a line that is not an object: {line!r}")
            newline = buffer.find(b"\n", end)
            if newline < 0:
                break
            pos = newline + 1
        done += len(lines)
    print(f"fuzzed {done} lines, {taken} taken", flush=True)


if __name__ == "__main__":
    main()
