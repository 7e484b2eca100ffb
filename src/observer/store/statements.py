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
# The binary COPY fast path (store/tickcopy.py): typed ticks rows, for a batch that meets rows
# already loaded, and the bar inputs of rows copied straight into their day partition.
FAST_STAGING_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_ticks_typed (LIKE ticks) ON COMMIT DELETE ROWS",
    _staging_ddl("bar_ticks", R.BAR_TICK_COLUMNS),
    "CREATE TEMP TABLE IF NOT EXISTS stage_bars (LIKE bars_1m) ON COMMIT DELETE ROWS",
)
_INSERT_STAGED_TICKS: Final = """
    INSERT INTO ticks (symbol, business_date, trade_ts, recv_ts, recv_ns, seq, tr_id, source,
                       schema_version, session_id, mitigation_level, flags, raw,
        trade_time, price, change_sign, change, change_rate, vwap, open, high, low, ask1, bid1,
        trade_volume, acc_volume, acc_value, sell_count, buy_count, net_buy_count, strength,
        sell_volume, buy_volume, trade_side, buy_ratio, volume_ratio_prev_day, open_time,
        open_vs_price_sign, open_vs_price, high_time, high_vs_price_sign, high_vs_price,
        low_time, low_vs_price_sign, low_vs_price, session_code, halted, ask1_size, bid1_size,
        total_ask_size, total_bid_size, turnover, prev_day_same_time_volume,
        prev_day_same_time_volume_rate, hour_class, market_treatment_class, vi_base_price,
        market, session, tick_size)
    SELECT symbol, business_date::date, trade_ts::timestamptz,
           timestamptz 'epoch' + recv_ns / 1000 * interval '1 us', recv_ns, seq,
           tr_id, source, schema_version, session_id, mitigation_level, flags, raw,
        trade_time, price, change_sign, change, change_rate, vwap, open, high, low, ask1, bid1,
        trade_volume, acc_volume, acc_value, sell_count, buy_count, net_buy_count, strength,
        sell_volume, buy_volume, trade_side, buy_ratio, volume_ratio_prev_day, open_time,
        open_vs_price_sign, open_vs_price, high_time, high_vs_price_sign, high_vs_price,
        low_time, low_vs_price_sign, low_vs_price, session_code, halted, ask1_size, bid1_size,
        total_ask_size, total_bid_size, turnover, prev_day_same_time_volume,
        prev_day_same_time_volume_rate, hour_class, market_treatment_class, vi_base_price,
        market, session, tick_size
    FROM stage_ticks
"""
# What the bars need of each inserted trade: the columns of stage_bar_ticks, in their order.
_RETURNING_BAR_INPUTS: Final = """
    RETURNING symbol, business_date, trade_ts, recv_ts, price, trade_volume, acc_volume,
              cardinality(flags) > 0 AS flagged, session_id"""
# Given the CTE ``ins`` (bar inputs of the trades just inserted), their one-minute bars. The
# session is the last trade's, the same rule the upsert below applies across batches.
_AGGREGATE_BARS: Final = """, agg AS (
    SELECT symbol, business_date, minute,
           (min(ARRAY[acc_volume, price]))[2]                   AS open,
           max(price)                                           AS high,
           min(price)                                           AS low,
           (max(ARRAY[acc_volume, price]))[2]                   AS close,
           coalesce(sum(trade_volume), 0)                       AS volume,
           count(*)                                             AS trade_count,
           count(*) FILTER (WHERE flagged)                      AS flagged_count,
           min(acc_volume)                                      AS first_acc,
           max(acc_volume)                                      AS last_acc,
           (array_agg(session_id ORDER BY acc_volume DESC))[1]  AS session_id
    FROM ins
    GROUP BY symbol, business_date, minute
)"""
# Given the CTE ``agg`` (one row per bar), upsert the bars and count them.
_UPSERT_BARS: Final = """, bars AS (
    INSERT INTO bars_1m AS b (symbol, business_date, bar_time, open, high, low, close, volume,
                              trade_count, flagged_count, first_acc_volume, last_acc_volume,
                              session_id)
    SELECT symbol, business_date, minute, open, high, low, close, volume, trade_count,
           flagged_count, first_acc, last_acc, session_id
    FROM agg
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
# Every way of inserting ticks writes the bar inputs of the rows it inserted into
# stage_bar_ticks, and the batch's bars are merged from there once (MERGE_BARS).
_SAVE_BAR_INPUTS: Final = "\n)\nINSERT INTO stage_bar_ticks SELECT * FROM ins"
INSERT_TICKS: Final = (
    "WITH ins AS (" + _INSERT_STAGED_TICKS + "    ON CONFLICT DO NOTHING" + _RETURNING_BAR_INPUTS
    + _SAVE_BAR_INPUTS
)  # fmt: skip
# The same statement without ON CONFLICT: no speculative insertion, about a third cheaper per
# row. Used first, inside a savepoint; a duplicate key rolls it back and INSERT_TICKS runs.
INSERT_TICKS_NO_DUPLICATES: Final = (
    "WITH ins AS (" + _INSERT_STAGED_TICKS + _RETURNING_BAR_INPUTS + _SAVE_BAR_INPUTS
)
_TICK_COLUMNS: Final = ", ".join(name for name, _ in R.TICK_COPY_COLUMNS)
# Fast path, batch meeting loaded rows: the typed staging rows, ON CONFLICT DO NOTHING.
# (Every statement here is built from constant text only.)
INSERT_TYPED_TICKS: Final = (
    f"WITH ins AS (\n    INSERT INTO ticks ({_TICK_COLUMNS})\n"  # noqa: S608
    f"    SELECT {_TICK_COLUMNS} FROM stage_ticks_typed\n    ON CONFLICT DO NOTHING"
    + _RETURNING_BAR_INPUTS + _SAVE_BAR_INPUTS
)  # fmt: skip
# The bars of every trade staged so far (the staged inputs are used up: a later merge in the
# same transaction does not count them again).
MERGE_BARS: Final = (
    "WITH ins AS (\n    DELETE FROM stage_bar_ticks\n"  # noqa: S608
    "    RETURNING symbol, business_date,\n"
    "              date_trunc('minute', coalesce(trade_ts, recv_ts)) AS minute,\n"
    "              price, trade_volume, acc_volume, flagged, session_id\n)"
    + _AGGREGATE_BARS
    + _UPSERT_BARS
)
INSERT: Final = {
    "quotes": """
INSERT INTO quotes (symbol, business_date, sweep_id, recv_ts, recv_ns, seq, tr_id, source,
                    schema_version, session_id, mitigation_level, flags, raw,
    session, name, market, price, change, change_sign, change_rate, acc_volume, acc_value, open,
        high, low, upper_limit, lower_limit, ask1, bid1, prev_close, base_price, tick_size)
SELECT symbol, business_date::date, sweep_id,
       timestamptz 'epoch' + recv_ns / 1000 * interval '1 us', recv_ns, seq, tr_id, source,
       schema_version, session_id, mitigation_level, flags, raw,
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
# Fast path, bars of one part of the batch's trades aggregated by the extension
# (store/tickcopy.py) into stage_bars: upsert them (and use them up, like MERGE_BARS).
UPSERT_STAGED_BARS: Final = (
    "WITH agg AS (\n    DELETE FROM stage_bars\n"  # noqa: S608
    "    RETURNING symbol, business_date, bar_time AS minute, open, high, low, close, volume,\n"
    "              trade_count, flagged_count, first_acc_volume AS first_acc,\n"
    "              last_acc_volume AS last_acc, session_id\n)" + _UPSERT_BARS
)
