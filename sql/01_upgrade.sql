-- The upgrade chain: install the oldest version, walk ALTER EXTENSION UPDATE to the
-- newest, and compare every object with a fresh install of the newest version.
-- an ACL as text, its items sorted, NULL (the default) spelled out: GRANT order and an
-- explicit default make no difference to who may do what
CREATE FUNCTION acl_norm(acl aclitem[], objtype "char", owner oid) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(acl, acldefault(objtype, owner))) a
$$;
CREATE FUNCTION ext_snapshot() RETURNS TABLE (kind text, name text, def text)
LANGUAGE sql AS $$
  -- member objects
  SELECT 'member', pg_describe_object(classid, objid, objsubid), ''
    FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
     AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'invoiceflow') AND deptype = 'e'
  UNION ALL  -- functions: definition, owner, privileges (an explicit default ACL equals none)
  SELECT 'function', p.oid::regprocedure::text,
         pg_get_functiondef(p.oid) || pg_get_userbyid(p.proowner)
         || acl_norm(p.proacl, 'f', p.proowner)
    FROM pg_proc p WHERE p.pronamespace = 'invoiceflow'::regnamespace
  UNION ALL  -- columns: type, NOT NULL, storage, default, identity, generated, collation, privileges
  SELECT 'column', a.attrelid::regclass || '.' || a.attname,
         format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' || a.attstorage::text || ' '
         || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' [' || a.attidentity::text || a.attgenerated::text || '] '
         || coalesce(a.attcollation::regcollation::text, '') || ' ' || coalesce(acl_norm(a.attacl, 'c', c.relowner), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'invoiceflow'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL  -- relations: kind, owner, options, privileges, row security, persistence, replica identity
  SELECT 'relation', c.oid::regclass::text,
         c.relkind::text || ' ' || pg_get_userbyid(c.relowner) || ' ' || coalesce(c.reloptions::text, '')
         || ' ' || acl_norm(c.relacl, CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner)
         || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' ' || c.relpersistence::text
         || c.relreplident::text
    FROM pg_class c WHERE c.relnamespace = 'invoiceflow'::regnamespace
  UNION ALL
  SELECT 'view', c.oid::regclass::text, pg_get_viewdef(c.oid)
    FROM pg_class c WHERE c.relnamespace = 'invoiceflow'::regnamespace AND c.relkind IN ('v', 'm')
  UNION ALL
  SELECT 'sequence', s.seqrelid::regclass::text,
         format_type(s.seqtypid, NULL) || concat_ws(' ', s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
                                                    s.seqcache, s.seqcycle)
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'invoiceflow'::regnamespace
  UNION ALL  -- types of their own (enums with their labels in order, domains, composites)
  SELECT 'type', t.oid::regtype::text,
         t.typtype::text || ' ' || pg_get_userbyid(t.typowner) || ' ' || coalesce(format_type(nullif(t.typbasetype, 0), NULL), '')
         || ' ' || t.typnotnull || ' ' || coalesce(t.typdefault, '') || ' '
         || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t WHERE t.typnamespace = 'invoiceflow'::regnamespace
     AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') AND t.typelem = 0
  UNION ALL
  SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'invoiceflow'::regnamespace
  UNION ALL
  SELECT 'constraint', conrelid::regclass || '.' || contypid::regtype || '.' || conname, pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'invoiceflow'::regnamespace
  UNION ALL  -- triggers, with their enabled state
  SELECT 'trigger', tgrelid::regclass || '.' || tgname, pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'invoiceflow'::regnamespace AND NOT t.tgisinternal
  UNION ALL  -- rules other than views' own
  SELECT 'rule', tablename || '.' || rulename, definition FROM pg_rules WHERE schemaname = 'invoiceflow'
  UNION ALL  -- row security policies
  SELECT 'policy', tablename || '.' || policyname,
         concat_ws(' ', permissive, roles::text, cmd, qual, with_check)
    FROM pg_policies WHERE schemaname = 'invoiceflow'
  UNION ALL  -- comments on the schema and on everything in it
  SELECT 'comment', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
    FROM pg_description d
   WHERE (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = 'invoiceflow'
      OR (d.classoid = 'pg_namespace'::regclass AND d.objoid = 'invoiceflow'::regnamespace)
  UNION ALL
  SELECT 'default acl', defaclrole::regrole || ' ' || defaclobjtype::text, defaclacl::text
    FROM pg_default_acl WHERE defaclnamespace = 'invoiceflow'::regnamespace
  UNION ALL  -- rows the scripts themselves write (counter slots, a secret...): how many
  SELECT 'rows', c.oid::regclass::text,
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass),
                                              false, true, '')))[1]::text
    FROM pg_class c WHERE c.relnamespace = 'invoiceflow'::regnamespace AND c.relkind = 'r'
  UNION ALL  -- tables whose rows pg_dump keeps, with their filter
  SELECT 'config', c.rel::regclass::text, coalesce(c.cond, '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(rel, cond) WHERE e.extname = 'invoiceflow'
  UNION ALL
  SELECT 'schema', nspname, pg_get_userbyid(nspowner) || acl_norm(nspacl, 'n', nspowner)
    FROM pg_namespace WHERE nspname = 'invoiceflow'
$$;

-- the oldest version and the chain to the newest
SELECT version FROM pg_available_extension_versions WHERE name = 'invoiceflow' ORDER BY string_to_array(version, '.')::int[];
-- DROP EXTENSION leaves the schema (it is not a member): drop it too, so that
-- each install makes it, with its owner and privileges, from nothing
DROP EXTENSION invoiceflow;
DROP SCHEMA invoiceflow;
CREATE EXTENSION invoiceflow VERSION '0.1';
ALTER EXTENSION invoiceflow UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'invoiceflow') AS at_newest
  FROM pg_extension WHERE extname = 'invoiceflow';
CREATE TEMP TABLE upgraded AS SELECT * FROM ext_snapshot();

DROP EXTENSION invoiceflow;
DROP SCHEMA invoiceflow;
CREATE EXTENSION invoiceflow;
CREATE TEMP TABLE fresh AS SELECT * FROM ext_snapshot();

SELECT count(*) > 50 AS snapshot_is_not_empty FROM fresh;
-- differences between the upgraded and the fresh install: none
(SELECT 'only after upgrade' AS side, * FROM upgraded EXCEPT SELECT 'only after upgrade', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh EXCEPT SELECT 'only in fresh install', * FROM upgraded)
ORDER BY 1, 2, 3;
