#!/usr/bin/env bash
# make run: set up and start invoiceflow on this machine, in the foreground.
#   - installs the packages it needs, builds and installs the extension
#   - creates a PostgreSQL cluster in .run/pg on first use (owned by postgres)
#   - starts it on 127.0.0.1:$PGPORT (default 55433) with invoiceflow preloaded,
#     configured from the seed's environment variables (env-to-gucs.sh)
#   - creates database "invoiceflow" with the extension (or updates it)
#   - starts the gateway on $HOST:$PORT (default 127.0.0.1:8003) and the processor
#     when they are built, with an API key for local use
# Ctrl-C or SIGTERM stops everything cleanly.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/test/services/lib.sh"
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export PGPORT=${PGPORT:-55433}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8003}
DB=${INVOICEFLOW_DATABASE:-invoiceflow}
RUN="$ROOT/.run"
CLUSTER="$RUN/pg"

bash "$ROOT/test/services/install-deps.sh"
make -C "$ROOT" -s -j2 all
$SUDO make -C "$ROOT" -s install >/dev/null

mkdir -p "$RUN"
if [ "$(id -u)" -eq 0 ]; then
  # The postgres user must reach the cluster even when the checkout sits in a
  # private home folder: give it the right to traverse each parent folder (an
  # ACL entry for postgres alone where the filesystem has ACLs).
  d="$RUN"
  while [ "$d" != "/" ]; do
    if ! runuser -u postgres -- test -x "$d"; then
      setfacl -m u:postgres:x "$d" 2>/dev/null || chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
  chown postgres: "$RUN"
fi

conf=$(mktemp); chmod 600 "$conf"
INVOICEFLOW_DATABASE=$DB bash "$ROOT/test/services/env-to-gucs.sh" > "$conf"
[ "$(id -u)" -eq 0 ] && chown postgres: "$conf"
first=; [ -s "$CLUSTER/data/PG_VERSION" ] || first=1
bash "$ROOT/test/services/postgres.sh" start "$CLUSTER" "$PGPORT" "$conf"
rm -f "$conf"
PSQL=(as_postgres "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER" -p "$PGPORT" -U postgres)
[ -n "$first" ] && echo "run: created a new cluster in $CLUSTER"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "run: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash "$ROOT/test/services/postgres.sh" stop "$CLUSTER"
  echo "run: stopped"
  exit 0
}
trap stop_all INT TERM EXIT

"${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS invoiceflow" \
                      -c "ALTER EXTENSION invoiceflow UPDATE"
"${PSQL[@]}" -d "$DB" -c "SELECT pg_reload_conf()" >/dev/null
# the background workers connect to invoiceflow.database, read at server start
[ -n "$first" ] && bash "$ROOT/test/services/postgres.sh" stop "$CLUSTER" \
  && bash "$ROOT/test/services/postgres.sh" start "$CLUSTER" "$PGPORT"

echo
echo "invoiceflow is running."
echo "  SQL:      psql -h 127.0.0.1 -p $PGPORT -U postgres $DB"
echo "            SELECT * FROM invoiceflow.ingest('invoice.pdf', pg_read_binary_file('/path/to/invoice.pdf'));"

GATEWAY="$ROOT/sidecar/gateway/invoiceflow-gateway"
if [ -x "$GATEWAY" ]; then
  # the gateway logs in as invoiceflow_gateway (trust on 127.0.0.1 in this local cluster)
  "${PSQL[@]}" -d "$DB" -c "ALTER ROLE invoiceflow_gateway LOGIN"
  # a fresh key for local use on every start; earlier local keys are revoked
  key=$("${PSQL[@]}" -d "$DB" -tA <<'SQL'
SELECT count(invoiceflow.revoke_api_key(name)) FROM invoiceflow.api_keys WHERE name LIKE 'local-%' AND revoked_at IS NULL \g /dev/null
SELECT invoiceflow.create_api_key('local-' || to_char(clock_timestamp(), 'YYYYMMDD-HH24MISS-US'));
SQL
)
  DATABASE_URL="postgresql://invoiceflow_gateway@127.0.0.1:$PGPORT/$DB" "$GATEWAY" &
  pids+=($!)
  echo "  REST:     http://$HOST:$PORT  (API key for local use: $key)"
  echo "            curl -H 'Authorization: Bearer $key' -F file=@test/fixtures/sample-invoice.pdf http://$HOST:$PORT/api/v1/ingest/upload"
fi
PROCESSOR="$ROOT/sidecar/processor/invoiceflow-processor"
if [ -x "$PROCESSOR" ]; then
  # a login with the worker's rights, and the reader's for file names in its logs
  "${PSQL[@]}" -d "$DB" -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'invoiceflow_processor')
    THEN CREATE ROLE invoiceflow_processor LOGIN IN ROLE invoiceflow_worker, invoiceflow_reader; END IF; END\$\$"
  DATABASE_URL="postgresql://invoiceflow_processor@127.0.0.1:$PGPORT/$DB" "$PROCESSOR" run &
  pids+=($!)
  echo "  processor: extracting invoices (pid $!)"
fi
echo "Press Ctrl-C to stop."
# stay in the foreground until a signal arrives (or the server dies)
while [ -f "$CLUSTER/data/postmaster.pid" ]; do sleep 1; done
