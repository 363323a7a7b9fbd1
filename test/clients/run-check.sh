#!/usr/bin/env bash
# Runs the client tests (see Makefile). Starts RabbitMQ and S3 in a temporary
# directory when the environment names neither (and NO_SERVICES is not set).
# The last line is the total: "N passed, N failed" (valgrind counts as one).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
services=$(cd "$here/../services" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ifclients.XXXXXX")
started=
cleanup() {
  if [ -n "$started" ]; then
    bash "$services/rabbitmq.sh" stop "$tmp/rabbitmq" || true
    bash "$services/s3.sh" stop "$tmp/s3" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "${S3_ENDPOINT_URL:-}" ] && [ -z "${RABBITMQ_URL:-}" ] && [ -z "${NO_SERVICES:-}" ]; then
  echo "# starting s3 and rabbitmq in $tmp"
  started=1
  bash "$services/s3.sh" start "$tmp/s3" || exit 1
  bash "$services/rabbitmq.sh" start "$tmp/rabbitmq" || exit 1
  set -a; . "$tmp/s3/env"; . "$tmp/rabbitmq/env"; set +a
fi
ASAN_OPTIONS=detect_leaks=1 "$here/test_clients" | tee "$tmp/out"
summary=$(tail -n 1 "$tmp/out")
passed=$(echo "$summary" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
failed=$(echo "$summary" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
if [ -z "$passed" ]; then
  echo "NOT OK - test_clients did not finish (crash or sanitizer report above)"; passed=0; failed=1
fi
if [ -z "${SKIP_VALGRIND:-}" ]; then
  if valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       "$here/test_clients_plain" --unit-only >"$tmp/valgrind.out" 2>&1; then
    echo "ok - valgrind: no-server part clean ($(tail -n 1 "$tmp/valgrind.out"))"; passed=$((passed+1))
  else
    cat "$tmp/valgrind.out"; echo "NOT OK - valgrind: no-server part"; failed=$((failed+1))
  fi
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
