# Shared helpers for the benchmarks (sourced): a throwaway cluster with
# invoiceflow preloaded, started as the postgres user when run as root.
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$BENCH_ROOT/test/services/lib.sh"
export PATH="$PG_BINDIR:$PATH"

# bench_cluster_start NAME: sets BENCH_DIR, PGHOST, PGPORT, PGUSER, PGDATABASE
bench_cluster_start() {
  BENCH_DIR=$(mktemp -d "/tmp/invoiceflow-bench-$1.XXXXXX")
  chmod 755 "$BENCH_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$BENCH_DIR"
  export PGPORT=$(free_port) PGHOST="$BENCH_DIR/pg" PGUSER=postgres PGDATABASE=postgres
  local conf="$BENCH_DIR/extra.conf"
  printf "max_connections = 100\nsynchronous_commit = on\n%s\n" "${BENCH_EXTRA_CONF:-}" > "$conf"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$conf"
  bash "$BENCH_ROOT/test/services/postgres.sh" start "$BENCH_DIR/pg" "$PGPORT" "$conf"
  trap bench_cluster_stop EXIT
}
bench_cluster_stop() {
  bash "$BENCH_ROOT/test/services/postgres.sh" stop "$BENCH_DIR/pg" || true
  rm -rf "$BENCH_DIR"
}
# bench_login ROLE: a fresh password for ROLE, kept in $BENCH_DIR/pgpass (mode 0600,
# ours), which PGPASSFILE names: on 127.0.0.1 the cluster asks every role for one
bench_login() {
  ( umask 077; bash "$BENCH_ROOT/test/services/postgres.sh" password "$BENCH_DIR/pg" "$1" >> "$BENCH_DIR/pgpass" )
  export PGPASSFILE="$BENCH_DIR/pgpass"
}
bpsql() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }
bpgbench() { as_postgres pgbench -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }
