-- The upgrade chain: install the oldest version, walk ALTER EXTENSION UPDATE to the
-- newest, and compare every object with a fresh install of the newest version.
CREATE FUNCTION ext_snapshot() RETURNS TABLE (kind text, name text, def text)
LANGUAGE sql AS $$
  -- member objects
  SELECT 'member', pg_describe_object(classid, objid, objsubid), ''
    FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
     AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'invoiceflow') AND deptype = 'e'
  UNION ALL  -- functions: definition, owner, privileges, settings
  SELECT 'function', p.oid::regprocedure::text,
         pg_get_functiondef(p.oid) || pg_get_userbyid(p.proowner) || coalesce(p.proacl::text, '')
    FROM pg_proc p WHERE p.pronamespace = 'invoiceflow'::regnamespace
  UNION ALL  -- columns
  SELECT 'column', a.attrelid::regclass || '.' || a.attname,
         format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' || a.attstorage::text || ' '
         || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'invoiceflow'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL  -- relations: kind, owner, options, privileges
  SELECT 'relation', c.oid::regclass::text,
         c.relkind::text || ' ' || pg_get_userbyid(c.relowner) || ' ' || coalesce(c.reloptions::text, '')
         || ' ' || coalesce(c.relacl::text, '')
    FROM pg_class c WHERE c.relnamespace = 'invoiceflow'::regnamespace
  UNION ALL
  SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'invoiceflow'::regnamespace
  UNION ALL
  SELECT 'constraint', conrelid::regclass || '.' || conname, pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'invoiceflow'::regnamespace
  UNION ALL
  SELECT 'trigger', tgrelid::regclass || '.' || tgname, pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'invoiceflow'::regnamespace AND NOT t.tgisinternal
  UNION ALL  -- tables whose rows pg_dump keeps
  SELECT 'config', unnest(extconfig)::regclass::text, '' FROM pg_extension WHERE extname = 'invoiceflow'
  UNION ALL
  SELECT 'schema', nspname, pg_get_userbyid(nspowner) || coalesce(nspacl::text, '')
    FROM pg_namespace WHERE nspname = 'invoiceflow'
$$;

-- the oldest version and the chain to the newest
SELECT version FROM pg_available_extension_versions WHERE name = 'invoiceflow' ORDER BY string_to_array(version, '.')::int[];
DROP EXTENSION invoiceflow;
CREATE EXTENSION invoiceflow VERSION '0.1';
ALTER EXTENSION invoiceflow UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'invoiceflow') AS at_newest
  FROM pg_extension WHERE extname = 'invoiceflow';
CREATE TEMP TABLE upgraded AS SELECT * FROM ext_snapshot();

DROP EXTENSION invoiceflow;
CREATE EXTENSION invoiceflow;
CREATE TEMP TABLE fresh AS SELECT * FROM ext_snapshot();

SELECT count(*) > 50 AS snapshot_is_not_empty FROM fresh;
-- differences between the upgraded and the fresh install: none
(SELECT 'only after upgrade' AS side, * FROM upgraded EXCEPT SELECT 'only after upgrade', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh EXCEPT SELECT 'only in fresh install', * FROM upgraded)
ORDER BY 1, 2, 3;
