-- Observer schema, version 4: fewer bytes per tick, and a table for rows the server refused.
-- The archive keeps every record exactly as received; PostgreSQL keeps what queries read. So
-- the raw frame (about 250 bytes of a ~800-byte tick row), ticks.recv_ns (recv_ts holds the
-- same instant to the microsecond) and the price against the day's open/high/low with their
-- signs (they follow from price and open/high/low) go, and prices, price differences and
-- per-day trade counts, all far below 2^31 on KRX, become integer. Volumes, sizes and values
-- stay bigint.
-- The compatibility views read none of the dropped columns and keep their columns and types.
-- Two views read columns that change; they are dropped and created again, unchanged (the swing
-- view now names the quote columns it reads instead of q.*).
DROP VIEW scalp_ticks;
DROP VIEW swing_bars_10m;

ALTER TABLE ticks
    DROP COLUMN raw,
    DROP COLUMN recv_ns,
    DROP COLUMN open_vs_price_sign,
    DROP COLUMN open_vs_price,
    DROP COLUMN high_vs_price_sign,
    DROP COLUMN high_vs_price,
    DROP COLUMN low_vs_price_sign,
    DROP COLUMN low_vs_price,
    ALTER COLUMN price TYPE integer,
    ALTER COLUMN change TYPE integer,
    ALTER COLUMN open TYPE integer,
    ALTER COLUMN high TYPE integer,
    ALTER COLUMN low TYPE integer,
    ALTER COLUMN ask1 TYPE integer,
    ALTER COLUMN bid1 TYPE integer,
    ALTER COLUMN sell_count TYPE integer,
    ALTER COLUMN buy_count TYPE integer,
    ALTER COLUMN net_buy_count TYPE integer,
    ALTER COLUMN vi_base_price TYPE integer,
    ALTER COLUMN tick_size TYPE integer;

ALTER TABLE quotes DROP COLUMN raw;

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

CREATE VIEW swing_bars_10m AS
WITH binned AS (
    SELECT q.symbol, q.business_date, q.recv_ts, q.recv_ns, q.price, q.acc_volume, q.bid1,
           q.ask1, q.session_id, q.schema_version, q.mitigation_level, q.flags,
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

-- A row PostgreSQL refused (a NUL byte in a text, a value out of range, ...): the loader finds
-- the one record by splitting its batch, writes it here with the reason in the batch's
-- transaction, and moves on.
CREATE TABLE load_rejects (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    stream      text,
    target      text        NOT NULL,
    reason      text        NOT NULL,
    sqlstate    text,
    row_json    text        NOT NULL
);
