"""Export archived records to Parquet or CSV with typed columns, streaming in record batches.

The archive is read through :mod:`observer.archive.reader` (plain and compressed hours alike),
one day range of one stream, optionally only some symbols. Lines are gathered into batches of
``BATCH_ROWS`` (or ``BATCH_BYTES``), parsed by Arrow's JSON reader (line by line in Python for a
batch holding a line it rejects) and written with a pyarrow ParquetWriter or CSV writer, so
memory stays bounded whatever the range. Columns: the record envelope (``seq``, ``recv_ns``,
``ts``, ``source``, ``tr_id``, ``symbol``, ``flags``) followed by the stream's data fields.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from observer.archive.reader import ArchiveReader, Position
from observer.ops.exceptions import ExportError

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
BATCH_BYTES = 16 << 20  # a batch also ends at this many bytes of lines, whatever their length
JSON_BLOCK_BYTES = 8 << 20
TZ = "Asia/Seoul"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

INT, FLOAT, STR, BOOL, TS, DATE = "int", "float", "str", "bool", "ts", "date"
ARROW_TYPES: dict[str, pa.DataType] = {
    INT: pa.int64(),
    FLOAT: pa.float64(),
    STR: pa.string(),
    BOOL: pa.bool_(),
    TS: pa.timestamp("us", tz=TZ),
    DATE: pa.date32(),
}
# Kinds the archive holds as text and the export converts (times, KRX business days).
TEXT_KINDS = (TS, DATE)
_PRICE_INTS = ("open", "high", "low", "ask1", "bid1")
SCALP_FIELDS: tuple[tuple[str, str], ...] = (
    ("trade_time", STR), ("price", INT), ("change_sign", STR), ("change", INT),
    ("change_rate", FLOAT), ("vwap", FLOAT), *((n, INT) for n in _PRICE_INTS),
    ("trade_volume", INT), ("acc_volume", INT), ("acc_value", INT), ("sell_count", INT),
    ("buy_count", INT), ("net_buy_count", INT), ("strength", FLOAT), ("sell_volume", INT),
    ("buy_volume", INT), ("trade_side", STR), ("buy_ratio", FLOAT),
    ("volume_ratio_prev_day", FLOAT), ("open_time", STR), ("open_vs_price_sign", STR),
    ("open_vs_price", INT), ("high_time", STR), ("high_vs_price_sign", STR),
    ("high_vs_price", INT), ("low_time", STR), ("low_vs_price_sign", STR),
    ("low_vs_price", INT), ("business_date", DATE), ("session_code", STR), ("halted", BOOL),
    ("ask1_size", INT), ("bid1_size", INT), ("total_ask_size", INT), ("total_bid_size", INT),
    ("turnover", FLOAT), ("prev_day_same_time_volume", INT),
    ("prev_day_same_time_volume_rate", FLOAT), ("hour_class", STR),
    ("market_treatment_class", STR), ("vi_base_price", INT), ("trade_ts", TS),
    ("market", STR), ("session", STR), ("tick_size", INT),
)  # fmt: skip
# gap records of the system stream (``--stream gaps``); ``event`` only selects them
GAP_FIELDS: tuple[tuple[str, str], ...] = (
    ("event", STR), ("scope", STR), ("reason", STR), ("start", TS), ("end", TS),
    ("stream", STR), ("tr_id", STR), ("missed_volume", INT), ("missed_trades", INT),
    ("records", INT), ("business_date", DATE), ("session", STR),
)  # fmt: skip
SWING_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", STR), ("market", STR), ("price", INT), ("change", INT), ("change_sign", STR),
    ("change_rate", FLOAT), ("acc_volume", INT), ("acc_value", INT),
    *((n, INT) for n in _PRICE_INTS), ("upper_limit", INT), ("lower_limit", INT),
    ("prev_close", INT), ("base_price", INT), ("sweep_id", INT), ("tick_size", INT),
    ("session", STR),
)  # fmt: skip
STREAM_FIELDS = {"scalp": SCALP_FIELDS, "swing": SWING_FIELDS, "gaps": GAP_FIELDS}
ARCHIVE_STREAM = {"scalp": "scalp", "swing": "swing", "gaps": "system"}
# data fields whose column is renamed (the envelope already has a column of that name)
RENAMED = {("gaps", "tr_id"): "gap_tr_id"}
DROPPED = {"gaps": ("event",)}
ENVELOPE: tuple[tuple[str, str], ...] = (
    ("seq", INT), ("recv_ns", INT), ("ts", TS), ("source", STR), ("tr_id", STR),
    ("symbol", STR), ("flags", STR),
)  # fmt: skip


def schema_for(stream: str, *, internal: bool = False) -> pa.Schema:
    """The Arrow schema of an export of ``stream`` (``internal``: with the selecting columns)."""
    dropped = () if internal else DROPPED.get(stream, ())
    fields = [(n, t) for n, t in STREAM_FIELDS[stream] if n not in dropped]
    return pa.schema(
        [(n, ARROW_TYPES[t]) for n, t in ENVELOPE]
        + [(RENAMED.get((stream, n), n), ARROW_TYPES[t]) for n, t in fields]
    )


def json_schema_for(stream: str) -> pa.Schema:
    """What Arrow's JSON reader parses an archive line of ``stream`` into (times as text)."""
    data = [
        (n, pa.string() if t in TEXT_KINDS else ARROW_TYPES[t]) for n, t in STREAM_FIELDS[stream]
    ]
    return pa.schema(
        [("seq", pa.int64()), ("recv_ns", pa.int64()), ("source", pa.string()),
         ("tr_id", pa.string()), ("symbol", pa.string()), ("flags", pa.list_(pa.string())),
         ("data", pa.struct(data))]
    )  # fmt: skip


def _business_day(value: Any) -> date | None:
    """``YYYYMMDD`` or ``YYYY-MM-DD`` as a date."""
    text = str(value).replace("-", "")
    return datetime.strptime(text, "%Y%m%d").date() if len(text) == 8 else None


def _date_column(text: pa.ChunkedArray | pa.Array) -> Any:
    """Business days given as text (``YYYYMMDD``) as an Arrow date column (null if not one)."""
    parsed = pc.strptime(text, format="%Y%m%d", unit="s", error_is_null=True)
    return pc.cast(parsed, ARROW_TYPES[DATE])


def _coerce(value: Any, kind: str) -> Any:
    """One value to the column's type, None when it cannot be (never raises)."""
    if value is None:
        return None
    try:
        if kind == INT:
            return int(value) if not isinstance(value, str) else int(float(value))
        if kind == FLOAT:
            return float(value)
        if kind == BOOL:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "y")
        if kind == TS:
            return _micros(value)
        if kind == DATE:
            return _business_day(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if isinstance(value, str) else str(value)


def _micros(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        return None
    return (parsed - _EPOCH) // _US


def _column(values: list[Any], kind: str) -> pa.Array:
    typ = ARROW_TYPES[kind]
    if kind in TEXT_KINDS:
        return pa.array([_coerce(v, kind) for v in values], type=typ)
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        # mixed types in this batch: coerce value by value
        return pa.array([_coerce(v, kind) for v in values], type=typ)


@dataclass
class ExportSummary:
    """What an export wrote."""

    rows: int
    files: int
    bytes_written: int
    seconds: float
    skipped_lines: int


class ExportJob:
    """One export: a stream, an inclusive day range, an optional symbol set, a format, a path."""

    def __init__(
        self,
        assets_dir: Path,
        stream: str,
        start: date,
        end: date,
        symbols: set[str] | None,
        fmt: str,
        out: Path,
    ) -> None:
        if stream not in STREAM_FIELDS:
            raise ExportError(f"cannot export stream {stream!r}")
        if fmt not in ("parquet", "csv"):
            raise ExportError(f"unknown format {fmt!r}")
        self.reader = ArchiveReader(assets_dir)
        self.stream = stream
        self.archive_stream = ARCHIVE_STREAM[stream]
        self.first = start.strftime("%Y%m%d")
        self.last = end.strftime("%Y%m%d")
        self.symbols = symbols
        self.fmt = fmt
        self.out = out
        self.schema = schema_for(stream)
        self.table_schema = schema_for(stream, internal=True)
        self.json_schema = json_schema_for(stream)
        self.skipped_lines = 0

    def files(self) -> list[tuple[Path, int]]:
        """The archive files of the range in time order, with their sizes on disk."""
        files = self.reader.day_files(self.archive_stream, self.first, self.last)
        return [(path, path.stat().st_size) for path in files]

    def _lines(
        self, files: list[tuple[Path, int]], progress: Callable[[int], Any]
    ) -> Iterator[bytes]:
        if not files:
            return
        sizes = {p.name.removesuffix(".zst"): size for p, size in files}
        first = files[0][0].name.removesuffix(".zst")
        last = files[-1][0].name.removesuffix(".zst")
        current: str | None = None
        lines = self.reader.iter_lines(self.archive_stream, Position(first, 0), until_file=last)
        for line, position in lines:
            if position.file != current:
                if current is not None:
                    progress(sizes.get(current, 0))
                current = position.file
            yield line
        if current is not None:
            progress(sizes.get(current, 0))

    def _rows(self, lines: list[bytes]) -> Iterator[dict[str, Any]]:
        for line in lines:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.skipped_lines += 1
                continue
            if not isinstance(obj, dict):
                self.skipped_lines += 1
                continue
            if self.symbols is not None and obj.get("symbol") not in self.symbols:
                continue
            yield obj

    def _convert(self, lines: list[bytes]) -> pa.Table:
        """One batch of lines as a table: parsed by Arrow's JSON reader, or line by line in
        Python when the batch holds a line Arrow rejects (torn, mistyped)."""
        try:
            table = self._convert_fast(lines)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            rows = list(self._rows(lines))
            return self._select(pa.Table.from_batches([self._batch(rows)], self.table_schema))
        if self.symbols is not None:
            wanted = pa.array(sorted(self.symbols), type=pa.string())
            table = table.filter(pc.is_in(table.column("symbol"), value_set=wanted))
        return self._select(table)

    def _select(self, table: pa.Table) -> pa.Table:
        """Only gap records for ``gaps``; the selecting columns are not exported."""
        if self.stream == "gaps":
            table = table.filter(pc.equal(table.column("event"), "gap"))
        dropped = DROPPED.get(self.stream, ())
        return table.drop_columns(list(dropped)) if dropped else table

    def _convert_fast(self, lines: list[bytes]) -> pa.Table:
        parsed = pajson.read_json(
            io.BytesIO(b"\n".join(lines)),
            read_options=pajson.ReadOptions(block_size=JSON_BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=self.json_schema, unexpected_field_behavior="ignore"
            ),
        )
        if parsed.num_rows != len(lines):
            raise pa.ArrowInvalid("line count differs")  # e.g. an empty line: go the slow way
        recv_ns = parsed.column("recv_ns")
        columns: list[Any] = [
            parsed.column("seq"),
            recv_ns,
            pc.cast(pc.divide(recv_ns, 1000), ARROW_TYPES[TS]),
            parsed.column("source"),
            parsed.column("tr_id"),
            parsed.column("symbol"),
            pc.binary_join(parsed.column("flags"), ","),
        ]
        data = parsed.column("data").combine_chunks()
        children = data.flatten() if len(data) else [pa.nulls(0, f.type) for f in data.type]
        for (_name, kind), child in zip(STREAM_FIELDS[self.stream], children, strict=True):
            if kind == TS:
                child = pc.cast(child, ARROW_TYPES[TS])
            elif kind == DATE:
                child = _date_column(child)
            columns.append(child)
        return pa.Table.from_arrays(columns, schema=self.table_schema)

    def _batch(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        columns: list[pa.Array] = []
        datas: list[dict[str, Any]] = [_data(r) for r in rows]
        for name, kind in ENVELOPE:
            if name == "ts":
                values: list[Any] = [_ns_to_us(r.get("recv_ns")) for r in rows]
            elif name == "flags":
                values = [",".join(r["flags"]) if r.get("flags") else None for r in rows]
            else:
                values = [r.get(name) for r in rows]
            columns.append(_column(values, kind))
        for name, kind in STREAM_FIELDS[self.stream]:
            columns.append(_column([d.get(name) for d in datas], kind))
        return pa.RecordBatch.from_arrays(columns, schema=self.table_schema)

    def _write_all(self, writer: Any, files: list[tuple[Path, int]], progress: Any) -> int:
        rows = 0
        batch: list[bytes] = []
        size = 0
        for line in self._lines(files, progress):
            batch.append(line)
            size += len(line)
            if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
                table = self._convert(batch)
                writer.write_table(table)
                rows += table.num_rows
                batch, size = [], 0
        if batch or rows == 0:
            table = self._convert(batch)
            writer.write_table(table)
            rows += table.num_rows
        return rows

    def run(self, progress: Callable[[int], Any] | None = None) -> ExportSummary:
        """Write the export (to a temporary name, renamed when complete)."""
        started = time.monotonic()
        files = self.files()
        tmp = self.out.with_name("." + self.out.name + ".tmp")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            writer = self._open(tmp)
            try:
                rows = self._write_all(writer, files, progress or _ignore)
            finally:
                writer.close()
            tmp.replace(self.out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"cannot write the export: {exc.strerror or exc}", self.out) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        summary = ExportSummary(
            rows, len(files), self.out.stat().st_size, time.monotonic() - started,
            self.skipped_lines,
        )  # fmt: skip
        log.info(
            "export %s: %d rows from %d file(s) to %s", self.stream, rows, len(files), self.out
        )
        return summary

    def _open(self, path: Path) -> Any:
        if self.fmt == "parquet":
            return pq.ParquetWriter(str(path), self.schema, compression="zstd")
        return pacsv.CSVWriter(str(path), self.schema)


def _data(row: dict[str, Any]) -> dict[str, Any]:
    data = row.get("data")
    return data if isinstance(data, dict) else {}


def _ns_to_us(value: Any) -> int | None:
    return value // 1000 if isinstance(value, int) else None


def _ignore(_n: int) -> None:
    return None
