-- Compatibility views: the names and columns consumers of the earlier system read.
-- Prices are numeric (KRW), volumes and sizes bigint, times timestamptz.
-- session_id = business date (YYYYMMDD) '_' session (e.g. 20260105_regular).
-- quality_flag = 'ok', or the record's quality flags joined by ',' ('partial' / 'flagged' on bars).

CREATE VIEW scalp_ticks AS
SELECT t.symbol,
       coalesce(t.trade_ts, t.recv_ts)          AS event_time,
       t.bid1::numeric                          AS bid_price,
       t.ask1::numeric                          AS ask_price,
       t.bid1_size                              AS bid_size,
       t.ask1_size                              AS ask_size,
       t.price::numeric                         AS last_price,
       t.trade_volume                           AS volume,
       t.session_id,
       t.mitigation_level::integer              AS mitigation_level,
       CASE WHEN cardinality(t.flags) = 0 THEN 'ok'
            ELSE array_to_string(t.flags, ',') END AS quality_flag
FROM ticks t;

CREATE VIEW scalp_1m_bars AS
SELECT b.symbol,
       b.bar_time,
       b.open::numeric   AS open,
       b.high::numeric   AS high,
       b.low::numeric    AS low,
       b.close::numeric  AS close,
       b.volume,
       cov.coverage_ratio,
       b.session_id,
       CASE WHEN cov.coverage_ratio < 1 THEN 'partial'
            WHEN b.flagged_count > 0 THEN 'flagged'
            ELSE 'ok' END AS quality_flag
FROM bars_1m b
CROSS JOIN LATERAL (
    SELECT round(greatest(0, 1 - coalesce(sum(extract(epoch FROM
               least(g.gap_end, b.bar_time + interval '1 minute')
               - greatest(g.gap_start, b.bar_time))), 0) / 60), 4) AS coverage_ratio
    FROM gaps g
    WHERE g.scope <> 'sweep'
      AND (g.symbol = '' OR g.symbol = b.symbol)
      AND g.gap_start < b.bar_time + interval '1 minute'
      AND g.gap_end > b.bar_time
) cov;

CREATE VIEW swing_bars_10m AS
WITH binned AS (
    SELECT q.*,
           date_bin('10 minutes', q.recv_ts, TIMESTAMPTZ '2000-01-03 00:00:00+09') AS bin
    FROM quotes q
), bars AS (
    SELECT symbol,
           business_date,
           bin                                            AS bar_time,
           (array_agg(price ORDER BY recv_ns))[1]         AS open,
           max(price)                                     AS high,
           min(price)                                     AS low,
           (array_agg(price ORDER BY recv_ns DESC))[1]    AS close,
           max(acc_volume)                                AS acc_volume,
           (array_agg(bid1 ORDER BY recv_ns DESC))[1]     AS bid_price,
           (array_agg(ask1 ORDER BY recv_ns DESC))[1]     AS ask_price,
           (array_agg(session_id ORDER BY recv_ns DESC))[1] AS session_id,
           max(schema_version)                            AS schema_version,
           max(mitigation_level)                          AS mitigation_level,
           bool_or(cardinality(flags) > 0)                AS flagged
    FROM binned
    GROUP BY symbol, business_date, bin
)
SELECT symbol,
       bar_time,
       open::numeric  AS open,
       high::numeric  AS high,
       low::numeric   AS low,
       close::numeric AS close,
       acc_volume - coalesce(lag(acc_volume) OVER (PARTITION BY symbol, business_date
                                                   ORDER BY bar_time), 0) AS volume,
       bid_price::numeric AS bid_price,
       ask_price::numeric AS ask_price,
       session_id,
       schema_version::integer   AS schema_version,
       mitigation_level::integer AS mitigation_level,
       CASE WHEN flagged THEN 'flagged' ELSE 'ok' END AS quality_flag
FROM bars;

CREATE VIEW scalp_gaps AS
SELECT g.gap_start                                          AS gap_start_ts,
       g.gap_end                                            AS gap_end_ts,
       extract(epoch FROM g.gap_end - g.gap_start)::numeric AS gap_seconds,
       g.scope,
       g.reason,
       g.session_id
FROM gaps g
WHERE g.scope <> 'sweep';
