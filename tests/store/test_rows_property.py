"""Property tests: turning lines into rows never raises, whatever the input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from observer.store import rows as R
from observer.store.batch import RowBatch
from observer.store.importer import ArchiveImporter
from observer.store.legacy import LegacyConverter

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["v", "stream", "seq", "recv_ns", "ts", "source", "tr_id", "symbol", "data", "flags",
     "raw", "timestamp", "execution_time", "price", "volume", "bid_ask", "dataset", "session"]
)  # fmt: skip
STREAMS = st.sampled_from(["scalp", "swing", "system", "other"])


@st.composite
def record_like(draw: Any) -> dict[str, Any]:
    """Dicts that look more or less like archive or legacy lines."""
    obj: dict[str, Any] = draw(st.dictionaries(KEYS, JSON, max_size=10))
    if draw(st.booleans()):
        obj["stream"] = draw(STREAMS)
        obj["recv_ns"] = draw(st.integers(min_value=0, max_value=2**62))
        obj["data"] = draw(
            st.dictionaries(st.sampled_from(["acc_volume", "event", "price", "start", "end"]), JSON)
        )
    return obj


@settings(max_examples=100, deadline=None)
@given(record_like())
@example({"stream": "scalp", "tr_id": "H0STASP0", "data": {}})  # skipped, without a recv_ns
def test_row_batch_never_raises(obj: dict[str, Any]) -> None:
    batch = RowBatch()
    batch.add(obj)
    assert batch.records == 1
    assert batch.row_count or batch.rejected or batch.skipped


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | record_like().map(orjson.dumps))
@example(  # a legacy number too large for a float
    b'{"timestamp": "2026-01-05T09:00:01+09:00", "symbol": "005930", "execution_time": "090001",'
    b' "price": {"current": "1e400"}, "volume": {"accumulated": 5}}'
)
def test_import_line_never_raises(line: bytes) -> None:
    importer = ArchiveImporter.__new__(ArchiveImporter)
    importer._legacy = LegacyConverter()
    importer._torn = []
    batch = RowBatch()
    importer._add(batch, line)
    assert batch.records <= 1
    assert batch.records == 1 or not line.strip(b" \t\r\n")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=1, max_value=10**7),
    st.sampled_from(["090001", "152959"]),
)
def test_valid_legacy_scalp_rows_conform(acc: int, price: int, hhmmss: str) -> None:
    line = orjson.dumps({
        "timestamp": "2026-01-05T09:00:01+09:00", "symbol": "005930",
        "execution_time": hhmmss, "price": {"current": str(price), "open": price},
        "volume": {"accumulated": acc}, "bid_ask": {}, "source": "kis",
    })  # fmt: skip
    record = LegacyConverter().convert(orjson.loads(line))
    assert record is not None
    row = R.tick_row(record)
    assert len(row) == len(R.TICK_COLUMNS)
    for value, (name, kind) in zip(row, R.TICK_COLUMNS, strict=True):
        assert value is None or _fits(value, kind), (name, value)


def _fits(value: Any, kind: str) -> bool:
    """True when ``value`` is what asyncpg encodes for a column of type ``kind``."""
    if kind in ("integer", "bigint", "smallint"):
        bits = {"integer": 31, "bigint": 63, "smallint": 15}[kind]
        return type(value) is int and -(2**bits) <= value < 2**bits
    types: dict[str, type | tuple[type, ...]] = {
        "text": str, "double precision": (float, int), "boolean": bool, "date": dt.date,
        "timestamptz": dt.datetime, "text[]": tuple,
    }  # fmt: skip
    return isinstance(value, types[kind])
