-- Observer schema, version 1: market tables (partitioned by day), system tables, checkpoints.
-- Symbols use the "C" collation: six-character codes compare bytewise, keeping key inserts cheap.
-- The database is a derived view of the archive; every table can be rebuilt by reloading it.

-- Track B trades (H0STCNT0 / H0NXCNT0 / H0UNCNT0), one row per trade, every typed field.
CREATE TABLE ticks (
    symbol                          text        COLLATE "C" NOT NULL,
    business_date                   date        NOT NULL,
    trade_ts                        timestamptz,
    recv_ts                         timestamptz NOT NULL,
    recv_ns                         bigint      NOT NULL,
    seq                             bigint,
    tr_id                           text        NOT NULL,
    source                          text        NOT NULL,
    schema_version                  smallint    NOT NULL DEFAULT 1,
    session_id                      text,
    mitigation_level                smallint    NOT NULL DEFAULT 0,
    flags                           text[]      NOT NULL DEFAULT '{}',
    trade_time                      text,
    price                           bigint,
    change_sign                     text,
    change                          bigint,
    change_rate                     double precision,
    vwap                            double precision,
    open                            bigint,
    high                            bigint,
    low                             bigint,
    ask1                            bigint,
    bid1                            bigint,
    trade_volume                    bigint,
    acc_volume                      bigint      NOT NULL,
    acc_value                       bigint,
    sell_count                      bigint,
    buy_count                       bigint,
    net_buy_count                   bigint,
    strength                        double precision,
    sell_volume                     bigint,
    buy_volume                      bigint,
    trade_side                      text,
    buy_ratio                       double precision,
    volume_ratio_prev_day           double precision,
    open_time                       text,
    open_vs_price_sign              text,
    open_vs_price                   bigint,
    high_time                       text,
    high_vs_price_sign              text,
    high_vs_price                   bigint,
    low_time                        text,
    low_vs_price_sign               text,
    low_vs_price                    bigint,
    session_code                    text,
    halted                          boolean,
    ask1_size                       bigint,
    bid1_size                       bigint,
    total_ask_size                  bigint,
    total_bid_size                  bigint,
    turnover                        double precision,
    prev_day_same_time_volume       bigint,
    prev_day_same_time_volume_rate  double precision,
    hour_class                      text,
    market_treatment_class          text,
    vi_base_price                   bigint,
    market                          text,
    session                         text,
    tick_size                       bigint,
    raw                             text,
    CONSTRAINT ticks_unique UNIQUE (symbol, business_date, acc_volume)
) PARTITION BY RANGE (business_date);
-- BRIN: time-range scans for almost no insert cost (ticks arrive in time order).
CREATE INDEX ticks_trade_ts ON ticks USING brin (trade_ts);

-- Track A sweep quotes, one row per symbol per sweep.
CREATE TABLE quotes (
    symbol            text        COLLATE "C" NOT NULL,
    business_date     date        NOT NULL,
    sweep_id          bigint      NOT NULL,
    recv_ts           timestamptz NOT NULL,
    recv_ns           bigint      NOT NULL,
    seq               bigint,
    tr_id             text        NOT NULL,
    source            text        NOT NULL,
    schema_version    smallint    NOT NULL DEFAULT 1,
    session           text,
    session_id        text,
    mitigation_level  smallint    NOT NULL DEFAULT 0,
    flags             text[]      NOT NULL DEFAULT '{}',
    name              text,
    market            text,
    price             bigint,
    change            bigint,
    change_sign       text,
    change_rate       double precision,
    acc_volume        bigint,
    acc_value         bigint,
    open              bigint,
    high              bigint,
    low               bigint,
    upper_limit       bigint,
    lower_limit       bigint,
    ask1              bigint,
    bid1              bigint,
    prev_close        bigint,
    base_price        bigint,
    tick_size         bigint,
    raw               text,
    CONSTRAINT quotes_unique UNIQUE (symbol, business_date, sweep_id)
) PARTITION BY RANGE (business_date);
CREATE INDEX quotes_recv_ts ON quotes USING brin (recv_ts);

-- One-minute OHLCV per symbol, maintained from ticks in the transaction that inserts them.
-- first/last_acc_volume order the ticks of a bar, so merging a later batch stays correct.
CREATE TABLE bars_1m (
    symbol            text        COLLATE "C" NOT NULL,
    business_date     date        NOT NULL,
    bar_time          timestamptz NOT NULL,
    open              bigint,
    high              bigint,
    low               bigint,
    close             bigint,
    volume            bigint      NOT NULL DEFAULT 0,
    trade_count       integer     NOT NULL DEFAULT 0,
    flagged_count     integer     NOT NULL DEFAULT 0,
    first_acc_volume  bigint      NOT NULL,
    last_acc_volume   bigint      NOT NULL,
    session_id        text,
    CONSTRAINT bars_1m_pkey PRIMARY KEY (symbol, business_date, bar_time)
) PARTITION BY RANGE (business_date);

-- Holes in the data, from system gap records.
CREATE TABLE gaps (
    recv_ns        bigint      NOT NULL,
    seq            bigint      NOT NULL,
    recv_ts        timestamptz NOT NULL,
    business_date  date        NOT NULL,
    source         text        NOT NULL,
    scope          text        NOT NULL,
    symbol         text        NOT NULL DEFAULT '',
    gap_start      timestamptz NOT NULL,
    gap_end        timestamptz NOT NULL,
    reason         text        NOT NULL,
    missed_volume  bigint,
    tr_id          text,
    session        text,
    session_id     text,
    CONSTRAINT gaps_unique UNIQUE (recv_ns, seq)
);
CREATE INDEX gaps_range ON gaps (gap_start, gap_end);

-- Every system record (startup, shutdown, gap, connection, session, universe, slot, ...).
CREATE TABLE system_events (
    recv_ns        bigint      NOT NULL,
    seq            bigint      NOT NULL,
    recv_ts        timestamptz NOT NULL,
    business_date  date        NOT NULL,
    source         text        NOT NULL,
    event          text        NOT NULL,
    symbol         text        NOT NULL DEFAULT '',
    data           jsonb       NOT NULL,
    CONSTRAINT system_events_unique UNIQUE (recv_ns, seq)
);
CREATE INDEX system_events_event ON system_events (event, recv_ts);

-- The daily universe.
-- From snapshot files (<snapshot_dir>/YYYYMMDD_universe.json) and 'added' universe events.
CREATE TABLE universe_members (
    business_date  date        NOT NULL,
    symbol         text        NOT NULL,
    name           text,
    market         text,
    prev_close     bigint,
    origin         text        NOT NULL,
    CONSTRAINT universe_members_pkey PRIMARY KEY (business_date, symbol)
);

-- Where the loader is in each archive stream; updated in the transaction that inserts the rows.
CREATE TABLE load_checkpoints (
    stream        text        PRIMARY KEY,
    file          text        NOT NULL,
    "offset"      bigint      NOT NULL,
    last_seq      bigint,
    last_recv_ns  bigint,
    lines         bigint      NOT NULL DEFAULT 0,
    rejected      bigint      NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Create the day partition of a partitioned table if it is missing (safe under concurrency).
CREATE FUNCTION observer_ensure_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := parent || '_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF parent NOT IN ('ticks', 'quotes', 'bars_1m') THEN
        RAISE EXCEPTION 'not a partitioned observer table: %', parent;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('observer_partition'), hashtext(part));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   part, parent, day, day + 1);
    RETURN true;
END
$$;

-- Retention: drop day partitions wholly before cutoff, delete older system rows.
CREATE FUNCTION observer_drop_partitions_before(cutoff date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    child record;
BEGIN
    FOR child IN
        SELECT c.relname AS name
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('ticks', 'quotes', 'bars_1m')
          AND c.relname ~ '_[0-9]{8}$'
          AND to_date(right(c.relname, 8), 'YYYYMMDD') < cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', child.name);
        RETURN NEXT child.name;
    END LOOP;
    DELETE FROM gaps WHERE business_date < cutoff;
    DELETE FROM system_events WHERE business_date < cutoff;
    DELETE FROM universe_members WHERE business_date < cutoff;
END
$$;
