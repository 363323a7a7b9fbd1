#!/usr/bin/env bash
# Benchmark (issue 5): the processor daemon in embedded mode over the corpus, with
# concurrency 1 and 2: documents/s for a backlog and per-document latency (claim
# to result stored, from its log), against extraction alone: `mutool draw -F txt`
# and `invoiceflow-processor extract`, one process per file. The difference is the
# daemon's fork + SQL overhead. Then scanned documents (issue 10): the first page
# of every corpus file rendered grey at SCAN_DPI and wrapped as an image-only PDF
# (tests/make_scan), read by OCR: pages/s and p50/p95 per page, one process per file
# and the daemon at each concurrency. Prints figures and the born-digital rate as a
# share of mutool's (target >= 70%), by wall clock and by CPU time (user + system of
# the processes, which other load on a shared machine inflates far less; for the
# daemon: the daemon and its children, PostgreSQL's work not counted); asserts nothing.
#   bash test/bench/processor.sh    (CORPUS_DIR=../shared/corpus/dev REPEAT=10 CONCURRENCY="1 2"
#                                    SCAN_DPI=300 SCAN_REPEAT=2 SCANS=1 ALL=1)
#   QUICK=1: born-digital only (REPEAT=3, SCANS=0, ALL=0: no pass over every file)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
CORPUS_DIR=${CORPUS_DIR:-$BENCH_ROOT/../shared/corpus/dev}
if [ "${QUICK:-0}" = 1 ]; then REPEAT=${REPEAT:-3}; SCANS=${SCANS:-0}; ALL=${ALL:-0}; fi
REPEAT=${REPEAT:-10}
ALL=${ALL:-1}
CONCURRENCY=${CONCURRENCY:-1 2}
PROC=${PROC:-$BENCH_ROOT/sidecar/processor/invoiceflow-processor}   # PROC=other/build to compare builds
MAKE_SCAN="$BENCH_ROOT/sidecar/processor/tests/make_scan"
[ -x "$PROC" ] || make -s -C "$BENCH_ROOT/sidecar/processor" invoiceflow-processor
[ -x "$MAKE_SCAN" ] || make -s -C "$BENCH_ROOT/sidecar/processor" tests/make_scan
SCAN_DPI=${SCAN_DPI:-300}
SCAN_REPEAT=${SCAN_REPEAT:-2}
SCANS=${SCANS:-1}
files=("$CORPUS_DIR"/*.pdf)
[ -f "${files[0]}" ] || { echo "no PDFs in $CORPUS_DIR (set CORPUS_DIR)" >&2; exit 1; }
n=$(( ${#files[@]} * REPEAT ))
echo "corpus: ${#files[@]} PDFs from $CORPUS_DIR, each $REPEAT times = $n documents; $(nproc) CPUs"

# p50/p95 of numbers (ms) on stdin
pct() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
  i50 = int(NR * 0.50 + 0.5); i95 = int(NR * 0.95 + 0.5); if (i50 < 1) i50 = 1; if (i95 < 1) i95 = 1;
  printf "p50 %6.1f ms  p95 %6.1f ms", v[i50], v[i95] }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { print n / ((b - a) / 1000) }'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- extraction alone, one process per file -----------------------------------------
LAST_RATE=0 LAST_CPU=0
# CPU time (user + system) of this shell's finished children, in clock ticks: the
# figure that the load of other processes on the machine does not inflate
child_ticks() { awk '{ print $16 + $17 }' /proc/$$/stat; }
per_file() {  # per_file LABEL CMD... : runs CMD FILE for every file of FILES REPEAT times
  local label=$1; shift
  local t0 t1 times=() start end c0 c1
  c0=$(child_ticks)
  start=$(now_ms)
  for _ in $(seq 1 "$REPEAT"); do
    for f in "${FILES[@]}"; do
      t0=$(now_ms); "$@" "$f" >/dev/null 2>&1 || true; t1=$(now_ms); times+=($((t1 - t0)))
    done
  done
  end=$(now_ms)
  c1=$(child_ticks)
  LAST_RATE=$(rate "$(( ${#FILES[@]} * REPEAT ))" "$start" "$end")
  LAST_CPU=$(cpu_per_doc "$c0" "$c1" "$(( ${#FILES[@]} * REPEAT ))")
  printf "%-34s %7.1f docs/s  %s  CPU %.1f ms/doc\n" "$label" "$LAST_RATE" "$(printf '%s\n' "${times[@]}" | pct)" "$LAST_CPU"
}
cpu_per_doc() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { print (b - a) * 1000 / hz / n }'; }
# born-digital: the files auto mode reads without OCR (the others are scans with or
# without the scanner's text layer, unusable text layers, or a logo read for a
# missing seller name; they are listed)
digital=()
for f in "${files[@]}"; do
  if "$PROC" extract "$f" 2>/dev/null | grep -q '"ocr_pages"'; then echo "  OCR in auto mode: $(basename "$f")"
  else digital+=("$f"); fi
done
echo "born-digital (no OCR in auto mode): ${#digital[@]} of ${#files[@]} files"
FILES=("${digital[@]}")
mutool_rate= mutool_cpu=
if command -v mutool >/dev/null; then
  per_file "mutool draw -F txt (1 process)" mutool draw -q -F txt -o /dev/null
  mutool_rate=$LAST_RATE mutool_cpu=$LAST_CPU
else
  echo "mutool draw: not installed (Debian package mupdf-tools)"
fi
per_file "processor extract (1 process)" "$PROC" extract
[ -n "$mutool_rate" ] && awk -v a="$LAST_RATE" -v b="$mutool_rate" -v c="$LAST_CPU" -v d="$mutool_cpu" \
  'BEGIN { printf "born-digital: processor extract at %.0f%% of mutool'"'"'s rate, %.0f%% by CPU time (target >= 70%%)\n", 100 * a / b, 100 * d / c }'
# mutool on every CPU, for the daemon's rate at the same concurrency
mutool_par=
if command -v mutool >/dev/null; then
  for c in $CONCURRENCY; do
    start=$(now_ms)
    for _ in $(seq 1 "$REPEAT"); do printf '%s\n' "${digital[@]}"; done |
      xargs -P "$c" -n 1 mutool draw -q -F txt -o /dev/null 2>/dev/null || true
    end=$(now_ms)
    r=$(rate "$(( ${#digital[@]} * REPEAT ))" "$start" "$end")
    mutool_par="$mutool_par $c:$r"
    printf "%-34s %7.1f docs/s\n" "mutool draw -F txt, $c at once" "$r"
  done
fi
FILES=("${files[@]}")
if [ "$ALL" = 1 ]; then
  saved=$REPEAT; REPEAT=$SCAN_REPEAT
  per_file "processor extract, all (1 process)" "$PROC" extract
  REPEAT=$saved
fi

# --- scans: page 1 of every corpus file as an image-only PDF -------------------------------
SCAN_DIR=$(mktemp -d /tmp/invoiceflow-bench-scans.XXXXXX)
chmod 755 "$SCAN_DIR"
scans=()
if [ "$SCANS" = 1 ] && command -v mutool >/dev/null; then
  for f in "${files[@]}"; do
    b=$(basename "$f" .pdf)
    mutool merge -o "$SCAN_DIR/$b.p1.pdf" "$f" 1 >/dev/null 2>&1 || continue
    "$MAKE_SCAN" "$SCAN_DIR/$b.p1.pdf" "$SCAN_DIR/scan-$b.pdf" "$SCAN_DPI" && scans+=("$SCAN_DIR/scan-$b.pdf")
    rm -f "$SCAN_DIR/$b.p1.pdf"
  done
  chmod 644 "$SCAN_DIR"/*.pdf
  echo "scans: ${#scans[@]} one-page image-only PDFs at $SCAN_DPI dpi, each $SCAN_REPEAT times"
  FILES=("${scans[@]}")
  saved=$REPEAT; REPEAT=$SCAN_REPEAT
  per_file "scans: processor extract (1 proc)" "$PROC" extract
  REPEAT=$saved
fi

# --- the daemon, embedded mode ------------------------------------------------------------
BENCH_EXTRA_CONF="invoiceflow.dedup = off" bench_cluster_start processor
bpsql -c "CREATE EXTENSION invoiceflow" \
      -c "CREATE ROLE ifbench LOGIN IN ROLE invoiceflow_worker, invoiceflow_reader"
bench_login ifbench
log=$(mktemp); chmod 644 "$log"
# CPU ticks of the cluster: the postmaster with what it has reaped, and its live children
pg_ticks() {
  local pm; pm=$(head -n 1 "$PGHOST/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { cat /proc/"$pm"/stat; for k in $(cat /proc/"$pm"/task/*/children); do cat /proc/"$k"/stat 2>/dev/null; done; } |
    awk '{ t += $14 + $15 + $16 + $17 } END { print t }'
}
daemon_run() {  # daemon_run LABEL UNIT REPEAT FILE... : a backlog of the files, drained at each concurrency
  local label=$1 unit=$2 rep=$3; shift 3
  local n=$(( $# * rep )) c start end pid done_n failed pg0 pg_cpu
for c in $CONCURRENCY; do
  bpsql -c "TRUNCATE invoiceflow.ingestions CASCADE" >/dev/null 2>&1 || \
    bpsql -c "DELETE FROM invoiceflow.ingestions" >/dev/null
  for _ in $(seq 1 "$rep"); do
    for f in "$@"; do
      bpsql -c "SELECT invoiceflow.ingest('$(basename "$f")', pg_read_binary_file('$f'))" >/dev/null
    done
  done
  : >"$log"
  pg0=$(pg_ticks)
  start=$(now_ms)
  DATABASE_URL="postgresql://ifbench@127.0.0.1:$PGPORT/postgres" PROCESSOR_CONCURRENCY=$c \
    LOG_FORMAT=json LOG_LEVEL=INFO "$PROC" run >"$log" 2>&1 &
  pid=$!
  # done at a log line per document (asking PostgreSQL every 50 ms through psql took
  # a share of the two cores from the daemon); a daemon that died ends the wait too
  until [ "$(grep -c '"message":"document \(completed\|failed\)"' "$log")" -ge "$n" ] || ! kill -0 "$pid" 2>/dev/null; do
    sleep 0.02
  done
  end=$(now_ms)
  # CPU of the daemon and its finished children; PostgreSQL's (claims, file reads,
  # complete() with its search row and commit) separately
  DAEMON_CPU="$DAEMON_CPU $c:$(cpu_per_doc 0 "$(awk '{ print $14 + $15 + $16 + $17 }' /proc/$pid/stat)" "$n")"
  kill -TERM "$pid"; wait "$pid" || true
  sleep 0.2   # the daemon's backend exits and is reaped
  pg_cpu=$(cpu_per_doc "$pg0" "$(pg_ticks)" "$n")
  done_n=$(grep -c '"message":"document \(completed\|failed\)"' "$log" || true)
  failed=$(grep -c '"message":"document failed"' "$log" || true)
  DAEMON_RATES="$DAEMON_RATES $c:$(rate "$n" "$start" "$end")"
  printf "%-34s %7.1f %s/s  %s  CPU %.1f ms/doc (PostgreSQL %.1f)  (%s documents, %s failed; wall %.1f s incl. startup)\n" \
    "$label, concurrency $c" "$(rate "$n" "$start" "$end")" "$unit" \
    "$(grep -o '"ms":[0-9]*' "$log" | cut -d: -f2 | pct)" "${DAEMON_CPU##*:}" "$pg_cpu" "$done_n" "$failed" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN { print (b - a) / 1000 }')"
done
}
DAEMON_RATES= DAEMON_CPU=
daemon_run "daemon, born-digital" docs "$REPEAT" "${digital[@]}"
for m in $mutool_par; do
  c=${m%%:*}; mr=${m#*:}
  for d in $DAEMON_RATES; do
    [ "${d%%:*}" = "$c" ] || continue
    dc=$(printf '%s\n' $DAEMON_CPU | sed -n "s/^$c://p")
    awk -v a="${d#*:}" -v b="$mr" -v c="$c" -v dc="$dc" -v mc="$mutool_cpu" \
      'BEGIN { printf "born-digital: daemon at concurrency %s at %.0f%% of mutool'"'"'s rate with %s at once, %.0f%% by CPU time (target >= 70%%)\n", c, 100 * a / b, c, 100 * mc / dc }'
  done
done
[ ${#scans[@]} -gt 0 ] && daemon_run "daemon, scans" pages "$SCAN_REPEAT" "${scans[@]}"
rm -f "$log"
rm -rf "$SCAN_DIR"
echo "(daemon latency: claim to result committed, per document; extraction-alone latency: process start to exit)"
