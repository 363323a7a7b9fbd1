#!/usr/bin/env bash
# Benchmark (issue 2): ingest() of a 50 KB PDF from 16 concurrent clients against
# a plain INSERT of the same bytes into a bare table; then stats() and status()
# latency with 1 million rows. Prints figures; asserts nothing.
#   bash test/bench/ingest.sh        (BENCH_SECONDS=20 CLIENTS=16 ROWS=1000000)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SECONDS_RUN=${BENCH_SECONDS:-20}; CLIENTS=${CLIENTS:-16}; ROWS=${ROWS:-1000000}
bench_cluster_start ingest
bpsql -c "CREATE EXTENSION invoiceflow ${EXT_VERSION:+VERSION '$EXT_VERSION'}"  # EXT_VERSION pins a version

# 64 incompressible 50 KB PDFs (random bytes in a comment), each with a 32-byte
# tag that every transaction overwrites so that every upload is new content.
bpsql <<'SQL'
CREATE TABLE blobs (i int PRIMARY KEY, b bytea);
INSERT INTO blobs
SELECT i, h || xref || convert_to('startxref' || E'\n' || octet_length(h) || E'\n%%EOF\n', 'UTF8')
FROM (SELECT i,
        convert_to(E'%PDF-1.4\n%' || repeat('0', 32) || E'\n', 'UTF8')
        || decode(string_agg(md5(i::text || ':' || g::text || random()::text), ''), 'hex') AS h,
        convert_to(E'xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\n', 'UTF8') AS xref
      FROM generate_series(1, 64) i, generate_series(1, 3200) g GROUP BY i) s;
CREATE TABLE bare (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), filename text NOT NULL, content bytea NOT NULL,
                   created_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION tagged(i int) RETURNS bytea LANGUAGE sql AS
  $$ SELECT overlay(b placing convert_to(md5(random()::text || clock_timestamp()), 'UTF8') from 11 for 32) FROM blobs WHERE blobs.i = tagged.i $$;
SQL
size=$(bpsql -tAc "SELECT octet_length(b) FROM blobs WHERE i = 1")
echo "file size: $size bytes, $CLIENTS clients, $SECONDS_RUN s per run"
tmp=$(mktemp -d); chmod 755 "$tmp"
echo '\set r random(1, 64)
SELECT invoiceflow.ingest('"'"'bench.pdf'"'"', tagged(:r));' > "$tmp/ingest.sql"
echo '\set r random(1, 64)
INSERT INTO bare (filename, content) VALUES ('"'"'bench.pdf'"'"', tagged(:r));' > "$tmp/insert.sql"
run() { bpgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" -f "$1" postgres 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
bpsql -c "CHECKPOINT"
insert_tps=$(run "$tmp/insert.sql")
bpsql -c "CHECKPOINT"
ingest_tps=$(run "$tmp/ingest.sql")
rm -rf "$tmp"
printf "plain INSERT:     %10.1f files/s\n" "$insert_tps"
printf "ingest():         %10.1f files/s\n" "$ingest_tps"
awk -v a="$ingest_tps" -v b="$insert_tps" 'BEGIN { printf "ratio:            %10.2f (target >= 0.70)\n", a / b }'

# stats() and status() with ROWS rows
echo "loading $ROWS rows ..."
bpsql <<SQL
TRUNCATE invoiceflow.ingestion_files;
INSERT INTO invoiceflow.ingestions (id, filename, s3_key, size_bytes, sha256, status, lease, lease_owner, lease_expires_at)
SELECT id, 'bulk.pdf', 'raw/' || id || '.pdf', 51200, sha256(id::text::bytea),
       s, CASE WHEN s = 'PROCESSING' THEN gen_random_uuid() END, CASE WHEN s = 'PROCESSING' THEN 'w' END,
       CASE WHEN s = 'PROCESSING' THEN now() + interval '1 hour' END
FROM (SELECT gen_random_uuid() AS id,
             (ARRAY['COMPLETED','COMPLETED','COMPLETED','FAILED','PENDING','PROCESSING'])[1 + g % 6] AS s
      FROM generate_series(1, $ROWS) g) x;
VACUUM ANALYZE invoiceflow.ingestions;
SQL
bpsql -tAc "SELECT 'rows: ' || count(*) || ', stats(): ' || invoiceflow.stats()::text FROM invoiceflow.ingestions"
tmp=$(mktemp -d); chmod 755 "$tmp"
echo 'SELECT invoiceflow.stats();' > "$tmp/stats.sql"
bpsql -tAc "SELECT id FROM invoiceflow.ingestions TABLESAMPLE SYSTEM (1) LIMIT 1000" > "$tmp/ids"
bpsql -c "CREATE TABLE bench_ids (n serial PRIMARY KEY, id uuid)" -c "\\copy bench_ids (id) FROM '$tmp/ids'"
printf '\\set n random(1, %s)\nSELECT invoiceflow.status((SELECT id FROM bench_ids WHERE n = :n));\n' "$(wc -l < "$tmp/ids")" > "$tmp/status.sql"
lat() { bpgbench -n -M prepared -c 1 -j 1 -T 10 -r -f "$1" postgres 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'; }
printf "stats()  latency: %8.3f ms average, 1 client (target < 1 ms)\n" "$(lat "$tmp/stats.sql")"
printf "status() latency: %8.3f ms average, 1 client (target < 1 ms)\n" "$(lat "$tmp/status.sql")"
rm -rf "$tmp"
