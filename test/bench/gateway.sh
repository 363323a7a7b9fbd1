#!/usr/bin/env bash
# Benchmark (issue 4 item 10): the gateway against its ceilings on this machine.
#   gateway, wrk + gateway.lua:  uploads (a different 50 KB PDF each time), status, stats
#   ceiling 1, wrk:              GET /health (a static answer of the same gateway)
#   ceiling 2, pgbench:          the same SQL calls (ingest() of 50 KB PDFs, status(), stats())
# each at 16 and 64 connections / clients; prints the figures and the ratios
# (targets: uploads >= 70% of pgbench ingest, status >= 50% of pgbench status).
# Asserts nothing. Starts its own throwaway cluster and gateway.
#   bash test/bench/gateway.sh        (BENCH_SECONDS=10 CONNS="16 64" GATEWAY_POOL_SIZE=8 MAX_CONCURRENT_UPLOADS=16)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECONDS:-10}; CONNS=${CONNS:-16 64}
LUA="$BENCH_ROOT/test/bench/gateway.lua"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 1; }

make -s -C "$BENCH_ROOT/sidecar/gateway" invoiceflow-gateway >/dev/null
bench_cluster_start gateway
gw_pid=
stop_all() {
  if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  bench_cluster_stop
}
trap stop_all EXIT
bpsql -c "CREATE EXTENSION invoiceflow" -c "ALTER ROLE invoiceflow_gateway LOGIN"
bench_login invoiceflow_gateway

GW_PORT=$(free_port)
# the gateway's files live beside the cluster, in a directory of our own
GW_DIR="$BENCH_DIR/gw"; mkdir -p "$GW_DIR"; chmod 755 "$GW_DIR"
# every client here is 127.0.0.1: the per-address limits (README, Limits under abuse) are lifted;
# no API key (REQUIRE_API_KEY=false): the figures stay comparable with the same SQL through pgbench
DATABASE_URL="postgresql://invoiceflow_gateway@127.0.0.1:$PGPORT/postgres" PORT=$GW_PORT HOST=127.0.0.1 \
  GATEWAY_POOL_SIZE=${GATEWAY_POOL_SIZE:-8} MAX_CONCURRENT_UPLOADS=${MAX_CONCURRENT_UPLOADS:-16} \
  GATEWAY_MAX_CONNECTIONS_PER_IP=0 GATEWAY_MAX_UPLOADS_PER_IP=${MAX_CONCURRENT_UPLOADS:-16} REQUIRE_API_KEY=false \
  LOG_FORMAT=json LOG_LEVEL=${LOG_LEVEL:-INFO} \
  "$BENCH_ROOT/sidecar/gateway/invoiceflow-gateway" > "$GW_DIR/gateway.log" 2>&1 &
gw_pid=$!
URL="http://127.0.0.1:$GW_PORT"
WAIT_SECONDS=20 wait_for curl -fsS "$URL/ready" || { echo "gateway did not start:"; cat "$GW_DIR/gateway.log"; exit 1; }
echo "gateway $URL (pool ${GATEWAY_POOL_SIZE:-8}), PostgreSQL :$PGPORT, $SECS s per run, $(nproc) cores"

# wrk MODE CONNS PATH -> "rps p50 p99 non2xx errors"
wrkrun() {
  local mode=$1 c=$2 path=$3 threads=2
  [ "$c" -lt 2 ] && threads=1
  GW_MODE=$mode GW_IDS="$GW_DIR/ids" wrk -t "$threads" -c "$c" -d "${SECS}s" --timeout 30s -s "$LUA" "$URL$path" \
    | sed -n 's/^RESULT //p'
}
# pgbench FILE CLIENTS -> "tps p50 p99" (per-transaction log for the percentiles)
pgrun() {
  local f=$1 c=$2 logp="$BENCH_DIR/pgb"
  rm -f "$logp".*
  ( cd "$BENCH_DIR" && bpgbench -n -M prepared -c "$c" -j 2 -T "$SECS" -l --log-prefix="$logp" -f "$f" postgres ) \
    > "$BENCH_DIR/pgb.out" 2>&1
  local tps; tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$BENCH_DIR/pgb.out")
  cat "$logp".* | awk '{print $3}' | sort -n | awk -v tps="$tps" '
    { v[NR] = $1 } END { printf "%s %.3f %.3f\n", tps, v[int(NR * 0.50) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }'
  rm -f "$logp".*
}

# pgbench's ingest: 64 incompressible 50 KB PDFs, each call with a fresh 32-byte tag
# (as test/bench/ingest.sh; the same layout as gateway.lua's)
bpsql <<'SQL'
CREATE TABLE blobs (i int PRIMARY KEY, b bytea);
INSERT INTO blobs
SELECT i, h || xref || convert_to('startxref' || E'\n' || octet_length(h) || E'\n%%EOF\n', 'UTF8')
FROM (SELECT i,
        convert_to(E'%PDF-1.4\n%' || repeat('0', 32) || E'\n', 'UTF8')
        || decode(string_agg(md5(i::text || ':' || g::text || random()::text), ''), 'hex') AS h,
        convert_to(E'xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\n', 'UTF8') AS xref
      FROM generate_series(1, 64) i, generate_series(1, 3193) g GROUP BY i) s;
CREATE FUNCTION tagged(i int) RETURNS bytea LANGUAGE sql AS
  $$ SELECT overlay(b placing convert_to(md5(random()::text || clock_timestamp()), 'UTF8') from 11 for 32) FROM blobs WHERE blobs.i = tagged.i $$;
SQL
cat > "$BENCH_DIR/ingest.sql" <<'EOF'
\set r random(1, 64)
SELECT request_id FROM invoiceflow.ingest('bench.pdf', tagged(:r));
EOF
echo 'SELECT invoiceflow.stats();' > "$BENCH_DIR/stats.sql"
chmod 644 "$BENCH_DIR"/*.sql
echo "file size: gateway ~${GW_PDF_BYTES:-51200} bytes, pgbench $(bpsql -tAc 'SELECT octet_length(b) FROM blobs WHERE i = 1') bytes"

declare -A R
for c in $CONNS; do
  bpsql -qc "CHECKPOINT"
  R[up_$c]=$(wrkrun upload "$c" /api/v1/ingest/upload)
  bpsql -qc "CHECKPOINT"
  R[pgi_$c]=$(pgrun "$BENCH_DIR/ingest.sql" "$c")
done
# ids for status: a sample of what the runs above stored
bpsql -tAc "SELECT id FROM invoiceflow.ingestions ORDER BY random() LIMIT 2000" > "$GW_DIR/ids"
chmod 644 "$GW_DIR/ids"
bpsql -qc "CREATE TABLE bench_ids (n serial PRIMARY KEY, id uuid)" -c "\\copy bench_ids (id) FROM '$GW_DIR/ids'"
printf '\\set n random(1, %s)\nSELECT invoiceflow.status((SELECT id FROM bench_ids WHERE n = :n));\n' \
  "$(wc -l < "$GW_DIR/ids")" > "$BENCH_DIR/status.sql"
chmod 644 "$BENCH_DIR/status.sql"
bpsql -qc "VACUUM ANALYZE"
rows=$(bpsql -tAc "SELECT count(*) FROM invoiceflow.ingestions")
for c in $CONNS; do
  R[st_$c]=$(wrkrun status "$c" /)
  R[pgs_$c]=$(pgrun "$BENCH_DIR/status.sql" "$c")
  R[ss_$c]=$(wrkrun get "$c" /api/v1/ingest/stats)
  R[pgss_$c]=$(pgrun "$BENCH_DIR/stats.sql" "$c")
  R[h_$c]=$(wrkrun get "$c" /health)
done

echo
echo "rows in invoiceflow.ingestions after the uploads: $rows"
printf "%-34s %6s %10s %9s %9s %8s\n" "what" "conns" "req/s" "p50 ms" "p99 ms" "non-2xx"
line() { # label conns "rps p50 p99 [non2xx errors]"
  set -- "$1" "$2" $3
  printf "%-34s %6s %10.1f %9.2f %9.2f %8s\n" "$1" "$2" "$3" "$4" "$5" "${6:--}"
}
for c in $CONNS; do
  line "gateway upload (50 KB, wrk)" "$c" "${R[up_$c]}"
  line "pgbench ingest() (50 KB)" "$c" "${R[pgi_$c]}"
  line "gateway status (wrk)" "$c" "${R[st_$c]}"
  line "pgbench status()" "$c" "${R[pgs_$c]}"
  line "gateway stats (wrk)" "$c" "${R[ss_$c]}"
  line "pgbench stats()" "$c" "${R[pgss_$c]}"
  line "gateway GET /health (static, wrk)" "$c" "${R[h_$c]}"
done
echo
for c in $CONNS; do
  awk -v c="$c" -v up="${R[up_$c]%% *}" -v pi="${R[pgi_$c]%% *}" -v st="${R[st_$c]%% *}" -v ps="${R[pgs_$c]%% *}" \
      -v ss="${R[ss_$c]%% *}" -v pss="${R[pgss_$c]%% *}" 'BEGIN {
    printf "ratio at %2d: upload/ingest %.2f (target >= 0.70)   status/status() %.2f (target >= 0.50)   stats/stats() %.2f\n",
      c, up / pi, st / ps, ss / pss }'
done
errs=$(grep -c '"level":"ERROR"' "$GW_DIR/gateway.log" || true)
echo "gateway ERROR log lines: $errs"
