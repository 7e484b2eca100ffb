-- Observer schema, version 5: the outcome of each gap's repair (issue 11).
-- A gap record carries a gap_id and "repair": "pending"; its outcome arrives later as a
-- gap_repair system record naming the gap ids it settles. Both are archived, so both reach
-- system_events; the triggers below copy them onto the gaps row, whichever is loaded first.
-- The old columns of gaps and scalp_gaps are unchanged; the new ones are added at the end.
ALTER TABLE gaps
    ADD COLUMN gap_id           text,
    ADD COLUMN repair_outcome   text,   -- pending, repaired, partial, unrepairable (NULL: untracked)
    ADD COLUMN trades_recovered bigint,
    ADD COLUMN volume_recovered bigint,
    ADD COLUMN repair_reason    text;
CREATE INDEX gaps_gap_id ON gaps (gap_id) WHERE gap_id IS NOT NULL;
CREATE INDEX system_events_gap_repair ON system_events USING gin ((data -> 'gap_ids'))
    WHERE event = 'gap_repair';

-- A gaps row being inserted: its id from the gap's own system event, its outcome from the
-- newest gap_repair event that names it (when that was loaded first).
CREATE FUNCTION observer_gap_row_repair() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gap     jsonb;
    outcome jsonb;
BEGIN
    IF NEW.gap_id IS NULL THEN
        SELECT data INTO gap FROM system_events
        WHERE recv_ns = NEW.recv_ns AND seq = NEW.seq AND event = 'gap';
        NEW.gap_id := gap ->> 'gap_id';
        NEW.repair_outcome := coalesce(NEW.repair_outcome, gap ->> 'repair');
    END IF;
    IF NEW.gap_id IS NOT NULL THEN
        SELECT data INTO outcome FROM system_events
        WHERE event = 'gap_repair' AND data -> 'gap_ids' ? NEW.gap_id
        ORDER BY recv_ns DESC, seq DESC LIMIT 1;
        IF outcome IS NOT NULL THEN
            NEW.repair_outcome := outcome ->> 'outcome';
            NEW.trades_recovered := (outcome ->> 'trades_recovered')::bigint;
            NEW.volume_recovered := (outcome ->> 'volume_recovered')::bigint;
            NEW.repair_reason := outcome ->> 'reason';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER gaps_repair_outcome BEFORE INSERT ON gaps
    FOR EACH ROW EXECUTE FUNCTION observer_gap_row_repair();

-- A gap or gap_repair event being inserted: settle the gaps rows already there.
CREATE FUNCTION observer_gap_event_repair() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event = 'gap' THEN
        UPDATE gaps
        SET gap_id = NEW.data ->> 'gap_id',
            repair_outcome = coalesce(repair_outcome, NEW.data ->> 'repair')
        WHERE recv_ns = NEW.recv_ns AND seq = NEW.seq AND gap_id IS NULL
          AND NEW.data ? 'gap_id';
    ELSE
        UPDATE gaps
        SET repair_outcome = NEW.data ->> 'outcome',
            trades_recovered = (NEW.data ->> 'trades_recovered')::bigint,
            volume_recovered = (NEW.data ->> 'volume_recovered')::bigint,
            repair_reason = NEW.data ->> 'reason'
        WHERE gap_id IN (SELECT jsonb_array_elements_text(NEW.data -> 'gap_ids'));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER system_events_gap_repair AFTER INSERT ON system_events
    FOR EACH ROW WHEN (NEW.event IN ('gap', 'gap_repair'))
    EXECUTE FUNCTION observer_gap_event_repair();

-- scalp_gaps: the same six columns first, then the symbol and the repair.
CREATE OR REPLACE VIEW scalp_gaps AS
SELECT g.gap_start                                          AS gap_start_ts,
       g.gap_end                                            AS gap_end_ts,
       extract(epoch FROM g.gap_end - g.gap_start)::numeric AS gap_seconds,
       g.scope,
       g.reason,
       g.session_id,
       g.symbol,
       g.gap_id,
       g.repair_outcome,
       g.trades_recovered,
       g.volume_recovered,
       g.repair_reason
FROM gaps g
WHERE g.scope <> 'sweep';
