#!/usr/bin/env bash
# make-full-install.sh [--check]
#
# Writes sql/invoiceflow--V.sql (V = default_version of invoiceflow.control): the
# full install script of the newest version, flattened from the upgrade chain.
#
# How: in a private throwaway cluster, the chain's SQL (invoiceflow--0.1.sql, then
# every --A--B.sql in version order) runs as plain SQL into the schema invoiceflow
# (the \echo guards dropped, MODULE_PATHNAME set to the library, each
# pg_extension_config_dump() call recorded instead of made). pg_dump --schema-only
# of that schema then gives every object's final definition, owner, privileges and
# comment; the script is that dump without CREATE SCHEMA, with MODULE_PATHNAME back
# in the C functions, preceded by the roles (created only where missing, as the
# chain does) and followed by the recorded pg_extension_config_dump() calls.
# sql/01_upgrade.sql checks that CREATE EXTENSION (this script) and the 0.1 chain
# give the same catalog.
#
#   --check   compare with the committed script instead of writing it; exit 1 with
#             the command to run when it is out of date (the regress suite step
#             "install script" runs this).
#
# Needs the extension's library installed (`make install`: C functions are looked up
# when created). Run as root (acts as postgres) or as the user owning the cluster.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/test/services/lib.sh"
mode=${1:-write}

V=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SRC/invoiceflow.control")
OUT=${FULL_INSTALL_OUT:-$SRC/sql/invoiceflow--$V.sql}

TMP=$(mktemp -d /tmp/invoiceflow-full-install.XXXXXX)
chmod 755 "$TMP"
[ "$(id -u)" -eq 0 ] && chown postgres "$TMP"
port=$(free_port)
cleanup() { bash "$SRC/test/services/postgres.sh" stop "$TMP/pg" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
bash "$SRC/test/services/postgres.sh" start "$TMP/pg" "$port" >/dev/null

psql_() { as_postgres "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$TMP/pg" -p "$port" -U postgres "$@"; }
psql_ -d postgres -c 'CREATE DATABASE scratch'

# The chain in version order: 0.1, then each A--B from the current version.
chain=("$SRC/sql/invoiceflow--0.1.sql")
cur=0.1
while next=$(ls "$SRC"/sql/invoiceflow--"$cur"--*.sql 2>/dev/null | head -1) && [ -n "$next" ]; do
  chain+=("$next"); cur=${next##*--}; cur=${cur%.sql}
done
[ "$cur" = "$V" ] || { echo "make-full-install: the chain ends at $cur, the control file says $V" >&2; exit 1; }

{
  cat <<'SQL'
CREATE SCHEMA invoiceflow;
CREATE TABLE public.config_dump (n serial, rel regclass, cond text);
CREATE FUNCTION public.config_dump(regclass, text) RETURNS void LANGUAGE sql
  AS $$ INSERT INTO public.config_dump (rel, cond) VALUES ($1, $2) $$;
SET search_path = invoiceflow;
SQL
  for f in "${chain[@]}"; do
    echo "-- $f"
    sed -e '/^\\echo .*\\quit$/d' \
        -e "s/'MODULE_PATHNAME'/'\$libdir\/invoiceflow'/g" \
        -e 's/pg_catalog\.pg_extension_config_dump(/public.config_dump(/g' "$f"
    echo "RESET search_path; SET search_path = invoiceflow;"
  done
} > "$TMP/chain.sql"
grep -n "pg_extension_config_dump(\|'MODULE_PATHNAME'" "$TMP/chain.sql" \
  && { echo "make-full-install: a config_dump or MODULE_PATHNAME form this tool does not know" >&2; exit 1; }
psql_ -d scratch -f - < "$TMP/chain.sql" >/dev/null

# Roles: the scratch cluster held none but postgres before the chain ran.
roles=$(psql_ -d scratch -At -c "
  SELECT string_agg(quote_literal(rolname), ', ' ORDER BY rolname) FROM pg_roles
   WHERE rolname !~ '^pg_' AND rolname <> 'postgres'")
odd=$(psql_ -d scratch -At -c "
  SELECT string_agg(rolname, ' ') FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> 'postgres'
     AND (rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls
          OR NOT rolinherit OR rolconnlimit <> -1 OR rolvaliduntil IS NOT NULL)")
[ -z "$odd" ] || { echo "make-full-install: roles with attributes this tool does not write: $odd" >&2; exit 1; }
members=$(psql_ -d scratch -At -c "
  SELECT string_agg(format('(%L, %L)', g.rolname, m.rolname), E',\n\t\t\t' ORDER BY g.rolname, m.rolname)
    FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
   WHERE g.rolname !~ '^pg_' AND m.rolname !~ '^pg_' AND m.rolname <> 'postgres'")
# in the order first registered (as extconfig keeps them), with the last filter given
configs=$(psql_ -d scratch -At -c "
  SELECT format('SELECT pg_catalog.pg_extension_config_dump(%L, %L);', rel::text,
                (array_agg(cond ORDER BY n DESC))[1])
    FROM public.config_dump WHERE EXISTS (SELECT 1 FROM pg_class WHERE oid = rel)  -- dropped: unregistered
   GROUP BY rel ORDER BY min(n)")

# Rows the chain itself writes (counter slots, a per-database secret...) are not in a
# schema dump: for each table not registered for dumping that the chain leaves
# non-empty, the chain's own top-level INSERT statements into it are replayed, in
# chain order, between the tables (pre-data) and their indexes, constraints and
# triggers (post-data), as a restore would. Regress 01_upgrade compares row counts.
seeded=$(psql_ -d scratch -At -c "
  SELECT c.relname FROM pg_class c
   WHERE c.relnamespace = 'invoiceflow'::regnamespace AND c.relkind = 'r'
     AND c.oid NOT IN (SELECT rel FROM public.config_dump)
     AND (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass),
                                               false, true, '')))[1]::text::bigint > 0
   ORDER BY 1")
: > "$TMP/seeds.sql"
for t in $seeded; do
  awk -v t="$t" '
    !on && index($0, "INSERT INTO invoiceflow." t) == 1 && substr($0, length("INSERT INTO invoiceflow." t) + 1, 1) ~ /^([ (]|)$/ { on = 1 }
    on { print }
    on && /;[[:space:]]*$/ { on = 0; print "" }' "${chain[@]}" > "$TMP/seed-$t.sql"
  [ -s "$TMP/seed-$t.sql" ] || { echo "make-full-install: the chain leaves rows in invoiceflow.$t but has no top-level INSERT INTO invoiceflow.$t to replay" >&2; exit 1; }
  { echo "-- rows of invoiceflow.$t, as the chain writes them"; cat "$TMP/seed-$t.sql"; } >> "$TMP/seeds.sql"
done

for section in pre-data post-data; do
  as_postgres "$PG_BINDIR/pg_dump" -h "$TMP/pg" -p "$port" -U postgres --schema-only --section=$section \
    -n invoiceflow scratch > "$TMP/$section.sql"
done

{
  cat <<EOF
/*
 * invoiceflow $V: full install script, GENERATED by test/tools/make-full-install.sh
 * from the upgrade chain (invoiceflow--0.1.sql and every --A--B.sql). Do not edit:
 * change the chain's newest script and run the tool again. sql/01_upgrade.sql
 * checks that this script and the chain give the same catalog.
 */
\\echo Use "CREATE EXTENSION invoiceflow" to load this file. \\quit

-- Roles: cluster-wide, so created only where missing (see invoiceflow--0.1.sql).
DO \$roles\$
DECLARE
	r text;
	m record;
BEGIN
	FOREACH r IN ARRAY ARRAY[$roles]
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	FOR m IN SELECT * FROM (VALUES
			$members) AS v(grp, member)
	LOOP
		IF NOT pg_catalog.pg_has_role(m.member, m.grp, 'MEMBER') THEN
			EXECUTE pg_catalog.format('GRANT %I TO %I', m.grp, m.member);
		END IF;
	END LOOP;
END
\$roles\$;

-- Function bodies are checked when called, not here (objects come in dependency
-- order, not in the order a body needs them).
SET check_function_bodies = false;
EOF
  # the dump without its session settings, version banner, \restrict lines and
  # CREATE SCHEMA (CREATE EXTENSION makes the schema)
  clean() {
    sed -e '/^\\restrict /d' -e '/^\\unrestrict /d' \
        -e '/^-- Dumped from database version/d' -e '/^-- Dumped by pg_dump version/d' \
        -e '/^SET /d' -e '/^SELECT pg_catalog.set_config(/d' \
        -e '/^CREATE SCHEMA invoiceflow;$/d' \
        -e "s/'\$libdir\/invoiceflow'/'MODULE_PATHNAME'/g" "$1" | cat -s
  }
  clean "$TMP/pre-data.sql"
  echo
  cat "$TMP/seeds.sql"
  clean "$TMP/post-data.sql"
  echo
  echo "-- Tables whose rows pg_dump keeps (pg_extension_config_dump), as the chain registers them."
  echo "$configs"
} > "$TMP/full.sql"

grep -q "'MODULE_PATHNAME'" "$TMP/full.sql" || { echo "make-full-install: no C function in the dump?" >&2; exit 1; }

if [ "$mode" = --check ]; then
  if ! cmp -s "$TMP/full.sql" "$OUT"; then
    diff -u "$OUT" "$TMP/full.sql" | head -40 >&2 || true
    echo "make-full-install: sql/invoiceflow--$V.sql is out of date with the upgrade chain." >&2
    echo "  Run: make install && make install-script   (then commit sql/invoiceflow--$V.sql)" >&2
    exit 1
  fi
  echo "sql/invoiceflow--$V.sql matches the upgrade chain"
else
  cp "$TMP/full.sql" "$OUT"
  echo "wrote $OUT ($(wc -l < "$OUT") lines)"
fi
