-- The service may connect as a role that owns nothing (deploy/base/db-grants.sql grants it
-- rights on the tables and views only). Creating and dropping day partitions needs the
-- owner's rights, so the two partition functions run as their owner (SECURITY DEFINER) with
-- a fixed search_path. They accept only the market tables and dates, nothing the caller names
-- freely. Found by name, so a later migration that redefines them only has to keep the names.
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema()
          AND p.proname IN ('observer_ensure_partition', 'observer_drop_partitions_before')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp',
                       fn, current_schema());
    END LOOP;
END
$$;
