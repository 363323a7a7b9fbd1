#!/usr/bin/env bash
# The test suite proper, run by test/run-all.sh as the postgres user from a copy of
# the tree. Starts RabbitMQ and the S3 server (with its SigV4-verifying proxy), then:
#   regress    pg_regress against a cluster with invoiceflow preloaded
#   unit       each sidecar's own `make check` (unit tests, sanitizers)
#   tap        prove t/*.pl: restarts, faults, gateway, processor, worker, dump/restore
# Each step's result is summarised at the end; any failure makes the exit non-zero.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
# servers, clusters and logs of this run, inside the tree's throwaway copy: never
# shared with (or polluted by) another run
WORK=${SUITE_WORK:-$SRC/.suite-run}
rm -rf "$WORK"
mkdir -p "$WORK"
. "$SRC/test/services/lib.sh"
export PATH="$PG_BINDIR:$PATH"

# steps run before this script (test/run-all.sh's security tests) count here too
passed=${SUITE_PRE_PASSED:-0}; failed=${SUITE_PRE_FAILED:-0}; failures=()
[ -n "${SUITE_PRE_FAILURES:-}" ] && failures=("$SUITE_PRE_FAILURES")
# SUITE_ONLY=REGEX runs only the steps whose name matches (e.g. '^tap$' with
# PROVE_TESTS='t/201_gateway_auth.pl', or '^unit gateway$'): for working on one part.
step() {  # step NAME CMD...: runs one step, records its result
  local name=$1; shift
  if [ -n "${SUITE_ONLY:-}" ] && ! [[ $name =~ $SUITE_ONLY ]]; then return 0; fi
  echo "=== $name"
  if "$@"; then passed=$((passed+1)); echo "=== $name: ok"
  else failed=$((failed+1)); failures+=("$name"); echo "=== $name: FAILED"; fi
}

services=()
cleanup() {
  for s in "${services[@]}"; do bash "$SRC/test/services/$s.sh" stop "$WORK/$s" || true; done
  bash "$SRC/test/services/postgres.sh" stop "$WORK/regress-pg" || true
}
trap cleanup EXIT

# External servers shared by the TAP tests: each script writes KEY=VALUE lines to DIR/env.
for s in rabbitmq s3; do
  if [ -x "$SRC/test/services/$s.sh" ] && [ -z "${SKIP_SERVICES:-}" ]; then
    echo "=== starting $s"
    if bash "$SRC/test/services/$s.sh" start "$WORK/$s"; then
      services+=("$s")
      set -a; . "$WORK/$s/env"; set +a
    else
      echo "=== starting $s: FAILED"; failed=$((failed+1)); failures+=("start $s")
    fi
  fi
done

regress() {
  local port; port=$(free_port)
  bash "$SRC/test/services/postgres.sh" start "$WORK/regress-pg" "$port" || return 1
  PGHOST="$WORK/regress-pg" PGPORT=$port PGUSER=postgres \
    make -C "$SRC" -s installcheck REGRESS_OUTDIR="$WORK/regress" || {
      cat "$WORK/regress/regression.diffs" 2>/dev/null | head -200; return 1; }
}
step regress regress
# the committed full install script is the one the upgrade chain gives
step "install script" make -C "$SRC" -s check-install-script

for d in "$SRC"/sidecar/*/; do
  [ -f "$d/Makefile" ] && step "unit $(basename "$d")" make -C "$d" -s check
done
# client tests against the real servers (or, for OpenSearch, the test double)
for d in "$SRC"/test/*/; do
  [ -f "$d/Makefile" ] && grep -q '^check:' "$d/Makefile" && step "client $(basename "$d")" make -C "$d" -s check
done

tap() {
  cd "$SRC" && TESTDIR="$WORK/tap" PG_REGRESS="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress" \
    prove -I "$(dirname "$(pg_config --pgxs)")/../test/perl" -I "$SRC/t/lib" \
      ${PROVE_FLAGS:-} ${PROVE_TESTS:-t/*.pl}
}
mkdir -p "$WORK/tap"
step tap tap

echo
echo "suite steps: ${passed} ok, ${failed} failed${failures:+ (${failures[*]})}"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
