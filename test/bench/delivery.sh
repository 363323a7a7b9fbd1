#!/usr/bin/env bash
# Benchmark (issues 3 and 11): delivery by the background workers, side by side
# with the raw rates of the same servers, in one run:
#   bash test/bench/delivery.sh        (FILES=1000 WORKERS="1 2" LATENCY_SECONDS=10 GATEWAY=1)
#
#  - raw S3: PUTs of a 50 KB file with curl (SigV4, through the verifying proxy),
#    from 1 client and from 8 x w clients at once for each worker count w of
#    WORKERS (a worker keeps 8 PUTs in flight: the same concurrency), and a
#    plain confirmed-publish loop to the broker;
#  - the gateway's sustained upload rate (test/bench/gateway.sh's wrk uploads of
#    50 KB PDFs at 16 connections, 5 s; GATEWAY=0 skips it);
#  - files/s delivered (S3 PUT + confirmed publish of invoice.uploaded) for FILES
#    50 KB PDFs with each worker count of WORKERS (default "1 2"; 2 is the
#    default of invoiceflow.workers): FILES are ingested in one transaction and
#    the clock runs from its commit until the outbox is drained;
#  - for each worker count, latency from an ingest() to its message arriving at
#    a consumer of invoiceflow.process (p50, p99) while pgbench ingests at 80 %
#    of the delivered rate for LATENCY_SECONDS (the clock starts at the
#    ingestion's created_at, i.e. the start of its one-statement transaction: a
#    little more than commit-to-queue); LATENCY_RATE=N ingests at N/s instead.
# Targets (issue 11): delivered >= 70 % of raw S3 at the same concurrency and >=
# the gateway's upload rate; p99 < 100 ms at 80 % load. Starts its own S3
# server, RabbitMQ node and PostgreSQL clusters; prints figures, asserts nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
FILES=${FILES:-1000}; LAT_SECS=${LATENCY_SECONDS:-10}; WORKER_COUNTS=${WORKERS:-"1 2"}
SVC=$(mktemp -d /tmp/invoiceflow-bench-svc.XXXXXX); chmod 755 "$SVC"
[ "$(id -u)" -eq 0 ] && chown postgres: "$SVC"
cleanup() {
  bash "$BENCH_ROOT/test/services/s3.sh" stop "$SVC/s3" >/dev/null 2>&1 || true
  bash "$BENCH_ROOT/test/services/rabbitmq.sh" stop "$SVC/rabbitmq" >/dev/null 2>&1 || true
  [ -n "${BENCH_DIR:-}" ] && bench_cluster_stop
  rm -rf "$SVC"
}
trap cleanup EXIT
make -s -C "$BENCH_ROOT/test/tools"
bash "$BENCH_ROOT/test/services/s3.sh" start "$SVC/s3" >/dev/null
bash "$BENCH_ROOT/test/services/rabbitmq.sh" start "$SVC/rabbitmq" >/dev/null
set -a; . "$SVC/s3/env"; . "$SVC/rabbitmq/env"; set +a
DRAIN="$BENCH_ROOT/test/tools/amqp_drain"
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

# --- raw S3: curl PUTs of a 50 KB file --------------------------------------------
head -c 51200 /dev/urandom > "$SVC/file.pdf"
N=400
# one curl process per client with many uploads (-K config): one reused connection,
# as the worker has; 1 client, then 4 in parallel
sha=$(sha256sum "$SVC/file.pdf" | cut -d' ' -f1)
curl_cfg() {  # curl_cfg PREFIX COUNT
  for i in $(seq 1 "$2"); do
    printf 'upload-file = "%s"\nurl = "%s/%s/raw-bench/%s-%d.pdf"\noutput = "/dev/null"\n' \
      "$SVC/file.pdf" "$S3_ENDPOINT_URL" "$S3_BUCKET" "$1" "$i"
  done
}
put_many() {  # put_many PREFIX COUNT
  curl_cfg "$1" "$2" | curl -sf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: $sha" -H 'Content-Type: application/pdf' -K -
}
t0=$(now); put_many s $N; t1=$(now)
s3_seq=$(rate $N "$t0" "$t1")
declare -A s3_par
for w in $WORKER_COUNTS; do
  PAR=$((8 * w)); [ -n "${s3_par[$PAR]:-}" ] && continue
  t0=$(now); for c in $(seq 1 "$PAR"); do put_many "p$PAR-$c" $((N / PAR)) & done; wait; t1=$(now)
  s3_par[$PAR]=$(rate $(( (N / PAR) * PAR )) "$t0" "$t1")
done
echo "raw S3 (curl, 50 KB, SigV4 proxy + s3rver, connection reused): $s3_seq PUT/s from 1 client;" \
  $(for p in "${!s3_par[@]}"; do echo "${s3_par[$p]} PUT/s from $p"; done | sort -t' ' -k5n)

# --- raw broker: confirmed persistent publishes to the durable queue --------------
mq_raw=$("$BENCH_ROOT/test/tools/amqp_publish_bench" "$RABBITMQ_URL" 3000 300 invoice.uploaded)
"$RABBITMQ_CTL" purge_queue invoiceflow.process >/dev/null
echo "raw RabbitMQ (confirmed persistent publish, 300 B, one at a time): $mq_raw msg/s"

# --- the gateway's sustained upload rate (its own cluster, embedded mode) --------------
gw_rate=n/a
if [ "${GATEWAY:-1}" = 1 ]; then
  gw_rate=$(CONNS=16 BENCH_SECONDS=5 bash "$BENCH_ROOT/test/bench/gateway.sh" 2>/dev/null \
    | awk '/^gateway upload \(50 KB, wrk\)/ { printf "%.0f", $(NF-3) }')
  echo "gateway uploads (50 KB, wrk, 16 connections): ${gw_rate:-?} uploads/s"
fi

# --- the workers --------------------------------------------------------------------
conf_for() {  # conf_for WORKERS
  cat <<CONF
invoiceflow.workers = $1
invoiceflow.s3_endpoint = '$S3_ENDPOINT_URL'
invoiceflow.s3_bucket = '$S3_BUCKET'
invoiceflow.s3_region = '$AWS_REGION'
invoiceflow.s3_access_key_id = '$AWS_ACCESS_KEY_ID'
invoiceflow.s3_secret_access_key = '$AWS_SECRET_ACCESS_KEY'
invoiceflow.rabbitmq_url = '$RABBITMQ_URL'
invoiceflow.dedup = off
CONF
}
setup_sql="
CREATE EXTENSION invoiceflow;
CREATE FUNCTION bench_pdf(tag text) RETURNS bytea LANGUAGE sql AS \$\$
  SELECT h || convert_to(E'xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\nstartxref\n' || octet_length(h) || E'\n%%EOF\n', 'UTF8')
  FROM (SELECT convert_to(E'%PDF-1.4\n% ' || tag || E'\n', 'UTF8')
          || decode(string_agg(md5(tag || g::text), ''), 'hex') AS h FROM generate_series(1, 3190) g) s \$\$;"
declare -A fps lat_of
for w in $WORKER_COUNTS; do
  BENCH_EXTRA_CONF="$(conf_for "$w")" bench_cluster_start "delivery$w"
  trap cleanup EXIT   # bench_cluster_start set its own; ours stops the cluster too
  bpsql -c "$setup_sql" >/dev/null
  until [ "$(bpsql -tAc "SELECT invoiceflow.health()->>'service'")" = healthy ]; do sleep 0.2; done
  size=$(bpsql -tAc "SELECT octet_length(bench_pdf('x'))")
  bpsql -c "CREATE TABLE prepared AS SELECT g, bench_pdf('w$w-' || g) AS b FROM generate_series(1, $FILES) g" >/dev/null
  t0=$(bpsql -tAc "BEGIN; SELECT count(*) FROM prepared, LATERAL invoiceflow.ingest('bench-' || g || '.pdf', b) x;
                   COMMIT; SELECT extract(epoch FROM clock_timestamp());" | tail -n 1)
  until [ "$(bpsql -tAc "SELECT count(*) FROM invoiceflow.outbox WHERE state <> 'done'")" = 0 ]; do sleep 0.05; done
  t1=$(bpsql -tAc "SELECT extract(epoch FROM max(done_at)) FROM invoiceflow.outbox")
  fps[$w]=$(rate "$FILES" "$t0" "$t1")
  echo "workers=$w: $FILES files of $size bytes delivered (S3 PUT + confirmed publish) at ${fps[$w]} files/s"
  "$RABBITMQ_CTL" purge_queue invoiceflow.process >/dev/null

  if [ "${LATENCY_SECONDS:-10}" != 0 ]; then
    # latency under load: pgbench ingests at 80 % of the delivered rate while a
    # consumer records arrival times; each message's body has its created_at
    lrate=${LATENCY_RATE:-$(( ${fps[$w]} * 8 / 10 ))}
    "$DRAIN" "$RABBITMQ_URL" invoiceflow.process 3000 > "$SVC/recv.jsonl" &
    drain_pid=$!
    sleep 1
    printf '\\set r random(1, %d)\nSELECT invoiceflow.ingest(\x27lat.pdf\x27, (SELECT b FROM prepared WHERE g = :r));\n' \
      "$FILES" > "$SVC/lat.sql"
    chmod 644 "$SVC/lat.sql"
    bpgbench -n -c 4 -j 2 -R "$lrate" -T "$LAT_SECS" -f "$SVC/lat.sql" postgres > "$SVC/lat.out" 2>&1
    wait "$drain_pid"
    lat=$(perl -MTime::Local -ne 'next unless /"message_id":"[0-9a-f-]{36}:invoice.uploaded:1".*"recv_us":(\d+)/; my $r = $1;
        next unless /\\"created_at\\":\\"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z/;
        my $c = timegm($6, $5, $4, $3, $2 - 1, $1) * 1e6 + substr($7 . "000000", 0, 6);
        printf "%.3f\n", ($r - $c) / 1000' "$SVC/recv.jsonl" | sort -n \
      | awk '{ a[NR] = $1 } END { if (NR == 0) { print "no samples"; exit }
               p50 = a[int((NR - 1) * 0.50) + 1]; p99 = a[int((NR - 1) * 0.99) + 1];
               printf "%d samples: p50 %.1f ms, p99 %.1f ms", NR, p50, p99 }')
    lat_of[$w]="at $lrate/s: $lat"
    echo "workers=$w: ingest() -> message in the queue at $lrate ingests/s (delivered in a burst: ${fps[$w]}/s): $lat"
  fi
  bench_cluster_stop; BENCH_DIR=
done

echo
echo "summary: raw S3 $s3_seq PUT/s from 1 client, raw broker $mq_raw confirmed msg/s, gateway uploads ${gw_rate:-?}/s;"
for w in $WORKER_COUNTS; do
  echo "  workers=$w: ${fps[$w]} files/s delivered = $(awk -v a="${fps[$w]}" -v b="${s3_par[$((8 * w))]}" 'BEGIN { printf "%.0f", 100 * a / b }') % of raw S3 from $((8 * w)) clients (${s3_par[$((8 * w))]} PUT/s)${lat_of[$w]:+; latency ${lat_of[$w]}}"
done
