"""The SQL the loader runs, as constant text. The staging tables and the INSERT statements
that empty them are derived from the column declarations in ``rows.py``."""

from __future__ import annotations

from typing import Final

from observer.store import rows as R


def _staging_ddl(table: str, columns: R.ColumnSpec) -> str:
    body = ",\n".join(f"    {name} {kind}" for name, kind in columns)
    return f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} (\n{body}\n) ON COMMIT DELETE ROWS"


# One staging table per target table, with exactly the columns rows.py builds (one source).
STAGING_DDL: Final = {table: _staging_ddl(table, columns) for table, columns in R.STAGING.items()}
# Trades: the typed rows of a batch that meets rows already loaded, and the bar inputs of every
# trade inserted (the bars are merged from them once per batch, by MERGE_BARS).
TICK_STAGING_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_ticks (LIKE ticks) ON COMMIT DELETE ROWS",
    _staging_ddl("bar_ticks", R.BAR_TICK_COLUMNS),
)
# The one bar rule: the one-minute bars of every trade staged in stage_bar_ticks, merged into
# bars_1m. open/close are the prices of the lowest/highest accumulated volume, the session the
# last trade's (looked up only for the rare minute whose trades name several sessions), so
# batches merge to the same bars in any order. CLEAR_BAR_INPUTS then empties the staging table
# (a later merge in the same transaction must not count those trades again).
MERGE_BARS: Final = """
WITH agg AS (
    SELECT symbol, business_date,
           date_trunc('minute', coalesce(trade_ts, recv_ts))   AS minute,
           (min(ARRAY[acc_volume, price]))[2]                   AS open,
           max(price)                                           AS high,
           min(price)                                           AS low,
           (max(ARRAY[acc_volume, price]))[2]                   AS close,
           coalesce(sum(trade_volume), 0)                       AS volume,
           count(*)                                             AS trade_count,
           count(*) FILTER (WHERE flagged)                      AS flagged_count,
           min(acc_volume)                                      AS first_acc,
           max(acc_volume)                                      AS last_acc,
           CASE WHEN min(session_id) = max(session_id) AND count(session_id) = count(*)
                THEN min(session_id) END                        AS one_session
    FROM stage_bar_ticks
    GROUP BY 1, 2, 3
), last_session AS (
    SELECT t.symbol, t.business_date, t.acc_volume, t.session_id
    FROM stage_bar_ticks t
    JOIN agg a ON a.one_session IS NULL AND t.symbol = a.symbol
              AND t.business_date = a.business_date AND t.acc_volume = a.last_acc
), bars AS (
    INSERT INTO bars_1m AS b (symbol, business_date, bar_time, open, high, low, close, volume,
                              trade_count, flagged_count, first_acc_volume, last_acc_volume,
                              session_id)
    SELECT a.symbol, a.business_date, a.minute, a.open, a.high, a.low, a.close, a.volume,
           a.trade_count, a.flagged_count, a.first_acc, a.last_acc,
           coalesce(a.one_session, l.session_id)
    FROM agg a
    LEFT JOIN last_session l ON l.symbol = a.symbol AND l.business_date = a.business_date
                            AND l.acc_volume = a.last_acc
    ON CONFLICT (symbol, business_date, bar_time) DO UPDATE SET
        open = CASE WHEN excluded.first_acc_volume < b.first_acc_volume
                    THEN excluded.open ELSE b.open END,
        close = CASE WHEN excluded.last_acc_volume > b.last_acc_volume
                     THEN excluded.close ELSE b.close END,
        session_id = CASE WHEN excluded.last_acc_volume > b.last_acc_volume
                          THEN excluded.session_id ELSE b.session_id END,
        high = greatest(b.high, excluded.high),
        low = least(b.low, excluded.low),
        volume = b.volume + excluded.volume,
        trade_count = b.trade_count + excluded.trade_count,
        flagged_count = b.flagged_count + excluded.flagged_count,
        first_acc_volume = least(b.first_acc_volume, excluded.first_acc_volume),
        last_acc_volume = greatest(b.last_acc_volume, excluded.last_acc_volume)
    RETURNING 1
)
SELECT (SELECT count(*) FROM bars) AS bars
"""
_TICK_COLUMNS: Final = ", ".join(name for name, _ in R.TICK_COLUMNS)
# A batch meeting loaded rows: the staged typed rows with ON CONFLICT DO NOTHING, the bar
# inputs of those inserted (the columns of stage_bar_ticks, in their order) saved. (Every
# statement here is built from constant text only.)
INSERT_STAGED_TICKS: Final = f"""
WITH ins AS (
    INSERT INTO ticks ({_TICK_COLUMNS})
    SELECT {_TICK_COLUMNS} FROM stage_ticks
    ON CONFLICT DO NOTHING
    RETURNING symbol, business_date, trade_ts, recv_ts, price, trade_volume, acc_volume,
              cardinality(flags) > 0 AS flagged, session_id
)
INSERT INTO stage_bar_ticks SELECT * FROM ins"""  # noqa: S608
CLEAR_BAR_INPUTS: Final = "TRUNCATE stage_bar_ticks"
_RECV_TS: Final = "timestamptz 'epoch' + recv_ns / 1000 * interval '1 us'"
_GAP_KST: Final = "gap_start::timestamptz AT TIME ZONE 'Asia/Seoul'"
# The columns of each table computed from the staged ones; the staged columns go in as they
# are, cast where the staging table holds text (_CASTS).
_COMPUTED: Final[dict[str, dict[str, str]]] = {
    "quotes": {"recv_ts": _RECV_TS},
    "system_events": {"recv_ts": _RECV_TS},
    "gaps": {
        "recv_ts": _RECV_TS,
        "business_date": f"({_GAP_KST})::date",
        "session_id": f"to_char({_GAP_KST}, 'YYYYMMDD') || coalesce('_' || session, '')",
    },
}
_CASTS: Final = {
    "business_date": "::date",
    "data": "::jsonb",
    "gap_start": "::timestamptz",
    "gap_end": "::timestamptz",
}


def _insert(table: str) -> str:
    """``INSERT ... SELECT`` of the rows staged for ``table``, loaded rows left alone."""
    staged = {name: name + _CASTS.get(name, "") for name, _ in R.STAGING[table]}
    values = _COMPUTED.get(table, {}) | staged
    return (
        f"INSERT INTO {table} ({', '.join(values)})\n"
        f"SELECT {', '.join(values.values())}\nFROM stage_{table}\nON CONFLICT DO NOTHING"
    )


INSERT: Final = {table: _insert(table) for table in R.STAGING}
CHECKPOINT: Final = """
INSERT INTO load_checkpoints AS c (stream, file, "offset", last_seq, last_recv_ns, lines, rejected)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (stream) DO UPDATE SET
    file = excluded.file,
    "offset" = excluded."offset",
    last_seq = coalesce(excluded.last_seq, c.last_seq),
    last_recv_ns = coalesce(excluded.last_recv_ns, c.last_recv_ns),
    lines = c.lines + excluded.lines,
    rejected = c.rejected + excluded.rejected,
    updated_at = now()"""
# A row the server refused, isolated by splitting its batch (see BatchWriter).
INSERT_REJECT: Final = """
INSERT INTO load_rejects (stream, target, reason, sqlstate, row_json) VALUES ($1, $2, $3, $4, $5)"""
