#!/usr/bin/env bash
# make run: set up and start invoiceflow on this machine, in the foreground.
#   - installs the packages it needs, builds and installs the extension
#     (RUN_SKIP_BUILD=1 skips these three steps: for an image or a test that built already)
#   - creates a PostgreSQL cluster in $INVOICEFLOW_RUN_DIR/pg (default .run/pg) on
#     first use (owned by postgres, closed to other OS users: postgres.sh)
#   - starts it on 127.0.0.1:$PGPORT (default 55433) with invoiceflow preloaded,
#     configured from the seed's environment variables (env-to-gucs.sh)
#   - creates database "invoiceflow" with the extension (or updates it)
#   - starts the gateway on $HOST:$PORT (default 127.0.0.1:8003) and the processor
#     when they are built, with an API key for local use and fresh database
#     passwords in $INVOICEFLOW_RUN_DIR/pgpass (mode 0600, the invoking user's)
# SIGINT (Ctrl-C), SIGTERM and SIGHUP, to this script or its whole process group,
# a closed output pipe (`make run | tee run.log`, then Ctrl-C) and a sidecar that
# ends on its own all stop everything it started: the sidecars, then PostgreSQL
# (test/security/run-stop.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/test/services/lib.sh"
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export PGPORT=${PGPORT:-55433}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8003}
DB=${INVOICEFLOW_DATABASE:-invoiceflow}
RUN=${INVOICEFLOW_RUN_DIR:-$ROOT/.run}   # the state folder: cluster, passwords

if [ -z "${RUN_SKIP_BUILD:-}" ]; then
  bash "$ROOT/test/services/install-deps.sh"
  make -C "$ROOT" -s -j2 all
  $SUDO make -C "$ROOT" -s install >/dev/null
fi

mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd); CLUSTER="$RUN/pg"; PASSFILE="$RUN/pgpass"
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

# --- stopping: every way this script can end goes through stop_all --------------
pids=()      # what we started beside PostgreSQL; a new sidecar appends its pid here
sleeper=
say() { { echo "$@"; } 2>/dev/null || true; }   # the output may be a closed pipe
stop_all() {  # stop_all EXIT_STATUS
  local rc=${1:-0}
  # A second signal must not cut the stopping short, and writing to a closed
  # pipe must not kill us before PostgreSQL is down (SIGPIPE).
  trap '' INT TERM HUP PIPE; trap - EXIT
  set +e
  say; say "run: stopping"
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  # the processor finishes documents in flight (up to 10 s); then no more waiting
  local deadline=$(( $(date +%s) + 15 ))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  bash "$ROOT/test/services/postgres.sh" stop "$CLUSTER"
  say "run: stopped"
  exit "$rc"
}
# told to stop: a clean end (0); a failed start-up keeps its status
trap 'stop_all 0' INT TERM HUP PIPE
trap 'stop_all $?' EXIT

# output_closed: true once nobody reads our stdout or stderr any more (the reader
# of a pipe is gone: poll() reports POLLERR); nothing else would tell us while idle
output_closed() {
  perl -MIO::Poll=POLLERR,POLLHUP -e '
    my $p = IO::Poll->new; $p->mask(\*STDOUT => POLLERR); $p->mask(\*STDERR => POLLERR);
    $p->poll(0);
    exit((($p->events(\*STDOUT) | $p->events(\*STDERR)) & (POLLERR | POLLHUP)) ? 0 : 1)'
}

conf=$(mktemp); chmod 600 "$conf"
INVOICEFLOW_DATABASE=$DB bash "$ROOT/test/services/env-to-gucs.sh" > "$conf"
[ "$(id -u)" -eq 0 ] && chown postgres: "$conf"
first=; [ -s "$CLUSTER/data/PG_VERSION" ] || first=1
bash "$ROOT/test/services/postgres.sh" start "$CLUSTER" "$PGPORT" "$conf"
rm -f "$conf"
PSQL=(as_postgres "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER" -p "$PGPORT" -U postgres)
[ -n "$first" ] && echo "run: created a new cluster in $CLUSTER"

"${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS invoiceflow" \
                      -c "ALTER EXTENSION invoiceflow UPDATE"
"${PSQL[@]}" -d "$DB" -c "SELECT pg_reload_conf()" >/dev/null
# the background workers connect to invoiceflow.database, read at server start
[ -n "$first" ] && bash "$ROOT/test/services/postgres.sh" stop "$CLUSTER" \
  && bash "$ROOT/test/services/postgres.sh" start "$CLUSTER" "$PGPORT"

# the sidecars' logins: the gateway's role comes with the extension; the processor's
# has the worker's rights, and the reader's for file names in its logs
"${PSQL[@]}" -d "$DB" -c "ALTER ROLE invoiceflow_gateway LOGIN" \
  -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'invoiceflow_processor')
    THEN CREATE ROLE invoiceflow_processor LOGIN IN ROLE invoiceflow_worker, invoiceflow_reader; END IF; END\$\$" \
  -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'invoiceflow_mail_sidecar')
    THEN CREATE ROLE invoiceflow_mail_sidecar LOGIN IN ROLE invoiceflow_mail; END IF; END\$\$"
# Passwords for TCP: the superuser's (kept by the cluster) and fresh ones for the
# sidecars' logins, in a libpq password file only the invoking user can read.
new=$(mktemp "$RUN/pgpass.XXXXXX")   # mode 0600
for role in postgres invoiceflow_gateway invoiceflow_processor invoiceflow_mail_sidecar; do
  bash "$ROOT/test/services/postgres.sh" password "$CLUSTER" "$role" >> "$new"
done
mv -f "$new" "$PASSFILE"
export PGPASSFILE="$PASSFILE"

echo
echo "invoiceflow is running."
echo "  SQL:      PGPASSFILE=$PASSFILE psql -h 127.0.0.1 -p $PGPORT -U postgres $DB"
echo "            (or, as the cluster's owner: psql -h $CLUSTER -p $PGPORT -U postgres $DB)"
echo "            SELECT * FROM invoiceflow.ingest('invoice.pdf', pg_read_binary_file('/path/to/invoice.pdf'));"

GATEWAY="$ROOT/sidecar/gateway/invoiceflow-gateway"
if [ -x "$GATEWAY" ]; then
  # a fresh key for local use on every start; earlier local keys are revoked
  key=$("${PSQL[@]}" -d "$DB" -tA <<'SQL'
SELECT count(invoiceflow.revoke_api_key(name)) FROM invoiceflow.api_keys WHERE name LIKE 'local-%' AND revoked_at IS NULL \g /dev/null
SELECT invoiceflow.create_api_key('local-' || to_char(clock_timestamp(), 'YYYYMMDD-HH24MISS-US'), '{ingest,read,review,admin}');
SQL
)
  # the password comes from $PGPASSFILE
  DATABASE_URL="postgresql://invoiceflow_gateway@127.0.0.1:$PGPORT/$DB" "$GATEWAY" &
  pids+=($!)
  echo "  REST:     http://$HOST:$PORT  (API key for local use, scopes ingest, read, review, admin: $key)"
  echo "            curl -H 'Authorization: Bearer $key' -F file=@test/fixtures/sample-invoice.pdf http://$HOST:$PORT/api/v1/ingest/upload"
  echo "  Web page: http://$HOST:$PORT/  (sign in with the key above)"
fi
PROCESSOR="$ROOT/sidecar/processor/invoiceflow-processor"
if [ -x "$PROCESSOR" ]; then
  DATABASE_URL="postgresql://invoiceflow_processor@127.0.0.1:$PGPORT/$DB" "$PROCESSOR" run &
  pids+=($!)
  echo "  processor: extracting invoices (pid $!)"
fi
# the mail sidecar, when a mailbox is configured (its login may only ingest and record mail outcomes)
MAILER="$ROOT/sidecar/mail/invoiceflow-mail"
if [ -x "$MAILER" ] && { [ -n "${MAIL_IMAP_URL:-}" ] || [ -n "${MAIL_ACCOUNTS_FILE:-}" ]; }; then
  DATABASE_URL="postgresql://invoiceflow_mail_sidecar@127.0.0.1:$PGPORT/$DB" "$MAILER" run &
  pids+=($!)
  echo "  mail:     taking invoices from MAIL_IMAP_URL / MAIL_ACCOUNTS_FILE (pid $!)"
fi
echo "Press Ctrl-C to stop."
# stay in the foreground until a signal arrives, the output is closed, the server
# dies or a sidecar ends (a sidecar can end alone: a signal that this script had
# to ignore, as a background job of a script does SIGINT, or a crash); waiting on
# a background sleep lets a signal's trap run at once
sidecars_up() {
  local p
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { say "run: a sidecar (pid $p) has ended"; return 1; }
  done
}
while [ -f "$CLUSTER/data/postmaster.pid" ] && ! output_closed && sidecars_up; do
  sleep 1 & sleeper=$!
  wait "$sleeper" || true
  sleeper=
done
[ -f "$CLUSTER/data/postmaster.pid" ] || { say "run: PostgreSQL stopped on its own (see $CLUSTER/postgres.log)"; exit 1; }
