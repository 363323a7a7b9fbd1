#!/usr/bin/env bash
# issue 9 item 1: the cluster `make run` creates (the same postgres.sh makes the
# test suite's, the benchmarks' and the Docker image's) admits no other OS user.
# Starts `make run` as make test runs it (root; its own state folder, free ports,
# no build: test/security/lib.sh), then, as the OS user nobody:
#   psql -h 127.0.0.1 -U postgres / invoiceflow_gateway / invoiceflow_processor is
#   refused for want of a password (and with guessed ones), the cluster's socket
#   cannot be reached, the password files cannot be read;
# while the invoking user still gets in with its password file, the gateway and the
# processor are logged in with theirs, and nothing in pg_hba.conf trusts.
# Needs root to act as nobody: otherwise it says so and exits 77 (skipped).
#   bash test/security/db-access.sh
set -uo pipefail
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: needs root, to connect as the OS user nobody"; exit 77
fi
DIR=$(run_dir)
trap 'run_kill "$DIR"; rm -rf "$DIR" "$DIR".*' EXIT
run_start "$DIR" tee
if ! run_ready "$DIR"; then
  nok "make run started"; run_diag "$DIR"; summary; exit 1
fi
PORT=$RUN_PGPORT CLUSTER="$DIR/pg"

# as_nobody_psql ARGS...: psql as nobody, never prompting; prints its error
as_nobody_psql() {
  runuser -u nobody -- env -u PGPASSFILE "$PG_BINDIR/psql" -X -w -At -p "$PORT" -c 'SELECT current_user' "$@" \
    < /dev/null 2>&1
}
# refused WHAT PATTERN ARGS...: nobody's psql fails, with an error matching PATTERN
# (so that a server that is down or unreachable for other reasons does not pass)
refused() {
  local what=$1 pattern=$2 out; shift 2
  if out=$(as_nobody_psql "$@"); then
    nok "$what: nobody got in ($out)"
  elif ! grep -q -E "$pattern" <<<"$out"; then
    nok "$what: refused for another reason: $out"
  else
    ok "$what: refused ($(head -n 1 <<<"$out" | sed 's/.*failed: //'))"
  fi
}
AUTH='no password supplied|password authentication failed'
for role in postgres invoiceflow_gateway invoiceflow_processor; do
  refused "nobody: psql -h 127.0.0.1 -U $role" "$AUTH" -h 127.0.0.1 -U "$role" -d invoiceflow
done
for pw in postgres invoiceflow ''; do
  PGPASSWORD=$pw refused "nobody: psql -h 127.0.0.1 -U postgres, password '$pw'" "$AUTH" \
    -h 127.0.0.1 -U postgres -d postgres
done
refused "nobody: psql on the cluster's socket ($CLUSTER)" 'Permission denied' -h "$CLUSTER" -U postgres -d postgres
check "nobody cannot read the password files" \
  runuser -u nobody -- sh -c "! cat '$DIR/pgpass' '$CLUSTER/pgpass' 2>/dev/null"

# the owner and the sidecars still get in, with their passwords
as_root_psql() { PGPASSFILE="$DIR/pgpass" "$PG_BINDIR/psql" -X -w -At -h 127.0.0.1 -p "$PORT" "$@" < /dev/null; }
check "the invoking user: psql -h 127.0.0.1 -U postgres with $DIR/pgpass" \
  test "$(as_root_psql -U postgres -d invoiceflow -c 'SELECT current_user')" = postgres
check "the invoking user: psql -h 127.0.0.1 -U invoiceflow_gateway with its password" \
  test "$(as_root_psql -U invoiceflow_gateway -d invoiceflow -c 'SELECT current_user')" = invoiceflow_gateway
sidecars_in() {
  [ "$(as_root_psql -U postgres -d invoiceflow -c "SELECT count(DISTINCT usename) FROM pg_stat_activity
        WHERE usename IN ('invoiceflow_gateway', 'invoiceflow_processor') AND client_addr = '127.0.0.1'")" = 2 ]
}
check "the gateway and the processor are logged in over 127.0.0.1" wait_for sidecars_in
check "the password files are mode 0600" \
  test "$(stat -c %a "$DIR/pgpass")/$(stat -c %a "$CLUSTER/pgpass")/$(stat -c %a "$CLUSTER")" = 600/600/700
check "pg_hba.conf trusts nothing" \
  sh -c "! grep -E -v '^[[:space:]]*(#|$)' '$CLUSTER/data/pg_hba.conf' | grep -q -w trust"
check "PostgreSQL listens on 127.0.0.1 only" \
  test "$(as_root_psql -U postgres -d postgres -c 'SHOW listen_addresses')" = 127.0.0.1

kill -TERM -- "-$RUN_SID"
run_wait_gone "$DIR" 20 >/dev/null || nok "make run stopped"

# The TAP tests' clusters (t/lib/InvoiceflowTest.pm new_node, PostgreSQL::Test::Cluster;
# the gateway's and processor's TAP helpers connect through their socket): trust on
# a socket in a private folder and no TCP at all. One such node, made by postgres as
# the suite makes them, is held up while nobody tries it.
TAP="$DIR/tap"; mkdir -p "$TAP"; chown postgres: "$TAP"
( cd "$TAP" && runuser -u postgres -- env TESTDIR="$TAP" T="$TAP" \
    PG_REGRESS="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress" perl \
    -I "$(dirname "$(pg_config --pgxs)")/../test/perl" -I "$SEC_ROOT/t/lib" -MInvoiceflowTest -MPOSIX -e '
  my $n = new_node("security", no_extension => 1);
  open my $f, ">", "$ENV{T}/node.tmp" or die; print $f join(" ", $n->host, $n->port,
    $n->safe_psql("postgres", "SHOW listen_addresses")), "\n"; close $f; rename "$ENV{T}/node.tmp", "$ENV{T}/node";
  for (1 .. 600) { last if -e "$ENV{T}/done"; select undef, undef, undef, 0.1 }
  $n->stop; POSIX::_exit(0)' > "$TAP/perl.log" 2>&1 & )
for _ in $(seq 1 600); do   # up to a minute, less if perl gave up
  [ -s "$TAP/node" ] && break
  grep -qs -e 'Bail out' -e ' at -e line' "$TAP/perl.log" && break
  sleep 0.1
done
if [ -s "$TAP/node" ]; then
  read -r thost tport tlisten < "$TAP/node"
  check "a TAP cluster listens on no TCP address (listen_addresses '$tlisten')" test -z "$tlisten"
  check "a TAP cluster's socket folder is private (mode $(stat -c %a "$thost"))" test "$(stat -c %a "$thost")" = 700
  PORT=$tport refused "nobody: psql on a TAP cluster's socket" 'Permission denied' -h "$thost" -U postgres -d postgres
  PORT=$tport refused "nobody: psql -h 127.0.0.1 on a TAP cluster's port" 'Connection refused' -h 127.0.0.1 -U postgres -d postgres
else
  nok "a TAP cluster started"; tail -n 20 "$TAP/perl.log" "$TAP"/tmp_check/log/*security*.log 2>/dev/null | sed 's/^/#   /'
fi
touch "$TAP/done"
WAIT_SECONDS=20 wait_for sh -c "! pgrep -u postgres -f '$TAP' >/dev/null" || true
summary
