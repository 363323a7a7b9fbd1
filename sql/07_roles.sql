-- Roles: each can do what it must and nothing more; no role touches tables directly.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_if_reader, regress_if_writer, regress_if_worker, regress_if_gateway,
  regress_if_admin, regress_if_nobody;
RESET client_min_messages;
CREATE ROLE regress_if_reader IN ROLE invoiceflow_reader;
CREATE ROLE regress_if_writer IN ROLE invoiceflow_writer;
CREATE ROLE regress_if_worker IN ROLE invoiceflow_worker;
CREATE ROLE regress_if_gateway IN ROLE invoiceflow_gateway;
CREATE ROLE regress_if_admin IN ROLE invoiceflow_admin;
CREATE ROLE regress_if_nobody;
GRANT USAGE ON SCHEMA public TO PUBLIC;
GRANT EXECUTE ON FUNCTION try(text), test_pdf(text, integer) TO PUBLIC;

-- the owner: not a superuser, cannot log in, owns every object
SELECT rolname, rolsuper, rolcanlogin FROM pg_roles WHERE rolname LIKE 'invoiceflow\_%' ORDER BY 1;
SELECT count(*) AS objects_not_owned_by_owner FROM (
  SELECT relowner AS o FROM pg_class WHERE relnamespace = 'invoiceflow'::regnamespace
  UNION ALL SELECT proowner FROM pg_proc WHERE pronamespace = 'invoiceflow'::regnamespace) x
  WHERE o <> 'invoiceflow_owner'::regrole;
-- API functions are SECURITY DEFINER with a fixed search_path
SELECT proname FROM pg_proc WHERE pronamespace = 'invoiceflow'::regnamespace AND proname !~ '^_'
  AND proname NOT IN ('update_updated_at_column')
  AND NOT (prosecdef AND array_to_string(proconfig, ',') LIKE 'search_path=%') ORDER BY 1;
-- no grants on tables to anyone but the owner
SELECT count(*) AS table_grants FROM information_schema.role_table_grants
  WHERE table_schema = 'invoiceflow' AND grantee <> 'invoiceflow_owner';

SET invoiceflow.dedup = off;
SELECT request_id AS rid, (SELECT 1) AS one FROM invoiceflow.ingest('role.pdf', test_pdf('roles')) \gset
CREATE TEMP TABLE matrix (role text, call text);
-- the calls each role is tested with
CREATE FUNCTION can(p_role text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', p_role);
  r := try(p_sql);
  RESET ROLE;
  RETURN CASE WHEN r = 'ok' THEN 'yes' WHEN r LIKE '42501:%' THEN 'no' ELSE r END;
END $$;
WITH calls(call, q) AS (VALUES
  ('status', format('SELECT invoiceflow.status(%L)', :'rid')),
  ('stats', 'SELECT invoiceflow.stats()'),
  ('health', 'SELECT invoiceflow.health()'),
  ('search', 'SELECT invoiceflow.search()'),
  ('ingest', $q$SELECT invoiceflow.ingest('r.pdf', test_pdf('r' || random()))$q$),
  ('claim_next', $q$SELECT invoiceflow.claim_next('w', 1)$q$),
  ('claim', format($q$SELECT invoiceflow.claim(%L, 'w')$q$, gen_random_uuid())),
  ('extend', format('SELECT invoiceflow.extend(%L, %L)', gen_random_uuid(), gen_random_uuid())),
  ('file', format('SELECT invoiceflow.file(%L)', :'rid')),
  ('retry', format('SELECT invoiceflow.retry(%L)', :'rid')),
  ('purge', format('SELECT invoiceflow.purge(%L)', gen_random_uuid())),
  ('check_api_key', $q$SELECT invoiceflow.check_api_key('x')$q$),
  ('create_api_key', $q$SELECT invoiceflow.create_api_key('k' || random())$q$),
  ('select table', 'SELECT count(*) FROM invoiceflow.ingestions'),
  ('update table', $q$UPDATE invoiceflow.ingestions SET filename = 'x'$q$),
  ('read files', 'SELECT count(*) FROM invoiceflow.ingestion_files'),
  ('read keys', 'SELECT count(*) FROM invoiceflow.api_keys'),
  ('set dedup', 'SET invoiceflow.dedup = off'),
  ('set max size', 'SET invoiceflow.max_file_size_mb = 1000'),
  ('show secret', 'SHOW invoiceflow.s3_secret_access_key'))
SELECT call,
  can('regress_if_reader', q) AS reader, can('regress_if_writer', q) AS writer,
  can('regress_if_worker', q) AS worker, can('regress_if_gateway', q) AS gateway,
  can('regress_if_admin', q) AS admin, can('regress_if_nobody', q) AS nobody
FROM calls;
RESET invoiceflow.dedup;
