-- The service's least-privilege role, run by the migration Job after `observer db migrate`
-- (as the owner, POSTGRES_USER). Idempotent. The service role (DB_USER) owns nothing: it may
-- read and write the rows of every table and read every view of the schema, now and later
-- (default privileges cover the day partitions the owner creates); it may not create, alter
-- or drop anything. Partitions come and go through the owner's SECURITY DEFINER functions
-- (migration 0006).
\set ON_ERROR_STOP on
\getenv owner POSTGRES_USER
\getenv app DB_USER
\getenv app_password DB_PASSWORD
\getenv dbname POSTGRES_DB
SELECT :'app' = :'owner' AS same_role \gset
\if :same_role
  DO $$ BEGIN RAISE EXCEPTION 'DB_USER equals POSTGRES_USER: give the service its own role (docs/deploying.md)'; END $$;
\endif
SELECT format('CREATE ROLE %I LOGIN', :'app')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('ALTER ROLE %I LOGIN NOCREATEDB NOCREATEROLE PASSWORD %L', :'app', :'app_password')
  \gexec
SELECT rolsuper OR rolbypassrls AS too_mighty FROM pg_roles WHERE rolname = :'app' \gset
\if :too_mighty
  DO $$ BEGIN RAISE EXCEPTION 'DB_USER is a superuser: give the service an ordinary role'; END $$;
\endif
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'dbname', :'app') \gexec
SELECT format('REVOKE CREATE ON SCHEMA public FROM PUBLIC, %I', :'app') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app') \gexec
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', :'app') \gexec
SELECT format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', :'app') \gexec
SELECT format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %I', :'app') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
              'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', :'owner', :'app') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
              'GRANT USAGE, SELECT ON SEQUENCES TO %I', :'owner', :'app') \gexec
\echo 'service role ready'
