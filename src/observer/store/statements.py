"""The SQL the loader runs, as constant text. The staging tables are derived from the column
declarations in ``rows.py``; ``tests/store/test_batch.py`` checks that the INSERT statements
name the same columns."""

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
# What the bars need of each inserted trade: the columns of stage_bar_ticks, in their order.
_RETURNING_BAR_INPUTS: Final = """
    RETURNING symbol, business_date, trade_ts, recv_ts, price, trade_volume, acc_volume,
              cardinality(flags) > 0 AS flagged, session_id"""
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
_SAVE_BAR_INPUTS: Final = "\n)\nINSERT INTO stage_bar_ticks SELECT * FROM ins"
_TICK_COLUMNS: Final = ", ".join(name for name, _ in R.TICK_COLUMNS)
# A batch meeting loaded rows: the staged typed rows with ON CONFLICT DO NOTHING, the bar
# inputs of those inserted saved. (Every statement here is built from constant text only.)
INSERT_STAGED_TICKS: Final = (
    f"WITH ins AS (\n    INSERT INTO ticks ({_TICK_COLUMNS})\n"  # noqa: S608
    f"    SELECT {_TICK_COLUMNS} FROM stage_ticks\n    ON CONFLICT DO NOTHING"
    + _RETURNING_BAR_INPUTS + _SAVE_BAR_INPUTS
)  # fmt: skip
CLEAR_BAR_INPUTS: Final = "TRUNCATE stage_bar_ticks"
INSERT: Final = {
    "quotes": """
INSERT INTO quotes (symbol, business_date, sweep_id, recv_ts, recv_ns, seq, tr_id, source,
                    schema_version, session_id, mitigation_level, flags,
    session, name, market, price, change, change_sign, change_rate, acc_volume, acc_value, open,
        high, low, upper_limit, lower_limit, ask1, bid1, prev_close, base_price, tick_size)
SELECT symbol, business_date::date, sweep_id,
       timestamptz 'epoch' + recv_ns / 1000 * interval '1 us', recv_ns, seq, tr_id, source,
       schema_version, session_id, mitigation_level, flags,
    session, name, market, price, change, change_sign, change_rate, acc_volume, acc_value, open,
        high, low, upper_limit, lower_limit, ask1, bid1, prev_close, base_price, tick_size
FROM stage_quotes
ON CONFLICT DO NOTHING""",
    "system_events": """
INSERT INTO system_events (recv_ns, seq, recv_ts, business_date, source, event, symbol, data)
SELECT recv_ns, seq, timestamptz 'epoch' + recv_ns / 1000 * interval '1 us',
       business_date::date, source, event, symbol, data::jsonb
FROM stage_system_events
ON CONFLICT DO NOTHING""",
    "gaps": """
INSERT INTO gaps (recv_ns, seq, recv_ts, business_date, source, scope, symbol, gap_start,
                  gap_end, reason, missed_volume, tr_id, session, session_id)
SELECT recv_ns, seq, timestamptz 'epoch' + recv_ns / 1000 * interval '1 us',
       (gap_start::timestamptz AT TIME ZONE 'Asia/Seoul')::date,
       source, scope, symbol, gap_start::timestamptz, gap_end::timestamptz, reason,
       missed_volume, tr_id, session,
       to_char(gap_start::timestamptz AT TIME ZONE 'Asia/Seoul', 'YYYYMMDD')
           || coalesce('_' || session, '')
FROM stage_gaps
ON CONFLICT DO NOTHING""",
    "universe_members": """
INSERT INTO universe_members (business_date, symbol, name, market, prev_close, origin)
SELECT business_date::date, symbol, name, market, prev_close, origin
FROM stage_universe_members
ON CONFLICT DO NOTHING""",
}
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
