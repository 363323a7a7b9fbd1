#!/usr/bin/env bash
# Benchmark (issue 6): search() latency over ROWS synthetic invoices (default 1M;
# generating them takes several minutes). Keywords match about 1% ("kubernetes")
# and about 20% ("maintenance") of the documents. For each query: p50/p95 of
# the first page (20 items), without and with facets. Prints figures; asserts nothing.
#   bash test/bench/search.sh          (ROWS=1000000 RUNS=200)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROWS=${ROWS:-1000000}; RUNS=${RUNS:-200}
bench_cluster_start search
bpsql -c "CREATE EXTENSION invoiceflow ${EXT_VERSION:+VERSION '$EXT_VERSION'}"  # EXT_VERSION pins a version
echo "generating $ROWS invoices ..."
start=$(date +%s)
as_postgres cat "$BENCH_ROOT/test/bench/search_data.sql" | bpsql -v rows="$ROWS"
bpsql -c "VACUUM ANALYZE invoiceflow.search_docs" -c "VACUUM ANALYZE invoiceflow.ingestions"
echo "generated in $(( $(date +%s) - start )) s; $(bpsql -tAc "SELECT count(*) FROM invoiceflow.search_docs") documents,"\
     "$(bpsql -tAc "SELECT count(*) FROM invoiceflow.search_docs WHERE tsv @@ 'kubernetes'::tsquery") match 'kubernetes',"\
     "$(bpsql -tAc "SELECT count(*) FROM invoiceflow.search_docs WHERE tsv @@ 'maintenance'::tsquery") match 'maintenance'"

tmp=$(mktemp -d); chmod 755 "$tmp"
[ "$(id -u)" -eq 0 ] && chown postgres: "$tmp"   # pgbench writes its logs there
measure() {  # measure LABEL SQL: p50/p95 in ms of RUNS executions, one client
  local label=$1 sql=$2
  printf '%s\n' "$sql" > "$tmp/q.sql"
  rm -f "$tmp"/log*
  (cd "$tmp" && bpgbench -n -M prepared -c 1 -t "$RUNS" -f "$tmp/q.sql" -l --log-prefix="$tmp/log" postgres >/dev/null 2>&1)
  cat "$tmp"/log* | awk '{print $3 / 1000.0}' | sort -n | awk -v label="$label" '
    { v[NR] = $1 } END { printf "%-52s p50 %7.2f ms  p95 %7.2f ms  (n=%d)\n", label, v[int(NR*0.5)], v[int(NR*0.95)], NR }'
}
for facets in false true; do
  echo "--- facets=$facets"
  measure "keyword 1% (kubernetes), relevance" "SELECT invoiceflow.search(q => 'kubernetes', facets => $facets);"
  measure "keyword 20% (maintenance), relevance" "SELECT invoiceflow.search(q => 'maintenance', facets => $facets);"
  measure "keyword 20%, newest first" "SELECT invoiceflow.search(q => 'maintenance', sort => '-created_at', facets => $facets);"
  measure "keyword 1% + date range + amount" "SELECT invoiceflow.search(q => 'kubernetes', issued_from => '2023-03-01', issued_to => '2024-06-30', total_min => '500', total_max => '20000', facets => $facets);"
  measure "keyword 20% + date range + amount" "SELECT invoiceflow.search(q => 'maintenance', issued_from => '2023-03-01', issued_to => '2024-06-30', total_min => '500', total_max => '20000', facets => $facets);"
  measure "filter only (EUR, COMPLETED), by issue date" "SELECT invoiceflow.search(currency => 'EUR', status => 'COMPLETED', sort => '-issue_date', facets => $facets);"
  measure "invoice number as typed" "SELECT invoiceflow.search(q => 'INV-2024/0000101', facets => $facets);"
done
rm -rf "$tmp"
