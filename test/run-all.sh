#!/usr/bin/env bash
# make test: the whole invoiceflow test suite from scratch, on a fresh Debian 12.
#   1. installs the packages it needs (test/services/install-deps.sh)
#   2. builds and installs the extension and the sidecars (plus sanitizer builds)
#   3. copies the tree to a throwaway folder the postgres user owns (a checkout in a
#      private home folder is not readable by postgres) and runs test/run-suite.sh
#      there as postgres: its own clusters, RabbitMQ and S3 server, all on loopback.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo

bash "$ROOT/test/services/install-deps.sh"
make -C "$ROOT" -s -j2 all
$SUDO make -C "$ROOT" -s install >/dev/null

# test/security/*.sh (not lib.sh): tests that need root (they act as the OS user
# nobody) or start `make run` itself; run here, from the checkout, while still root,
# before the suite drops to postgres. Exit 77 means skipped. Counted in the suite's
# final line (SUITE_PRE_* below); SUITE_ONLY selects them as "security NAME".
sec_passed=0; sec_failed=0; sec_failures=()
set +e
for t in "$ROOT"/test/security/*.sh; do
  [ "$(basename "$t")" = lib.sh ] && continue
  name="security $(basename "$t" .sh)"
  if [ -n "${SUITE_ONLY:-}" ] && ! [[ $name =~ $SUITE_ONLY ]]; then continue; fi
  echo "=== $name"
  bash "$t"; rc=$?
  case $rc in
    0)  sec_passed=$((sec_passed+1)); echo "=== $name: ok" ;;
    77) echo "=== $name: SKIPPED" ;;
    *)  sec_failed=$((sec_failed+1)); sec_failures+=("$name"); echo "=== $name: FAILED" ;;
  esac
done
set -e

WORK=$(mktemp -d /tmp/invoiceflow-test.XXXXXX)
chmod 755 "$WORK"
tar -C "$ROOT" --exclude=.git --exclude=tmp_check --exclude=results -cf - . | tar -C "$WORK" -xf -
mkdir -p "$WORK/shared"
[ -d "$ROOT/../shared/corpus" ] && cp -r "$ROOT/../shared/corpus" "$WORK/shared/corpus"
if [ "$(id -u)" -eq 0 ]; then
  chown -R postgres: "$WORK"
  RUN=(runuser -u postgres --)
else
  RUN=()
fi
echo "test: working folder $WORK"
set +e
"${RUN[@]}" env -u PGPORT -u PGHOST -u PGDATABASE -u PGUSER \
  SUITE_PRE_PASSED=$sec_passed SUITE_PRE_FAILED=$sec_failed SUITE_PRE_FAILURES="${sec_failures[*]}" \
  CORPUS_DIR="$WORK/shared/corpus/dev" bash "$WORK/test/run-suite.sh"
rc=$?
set -e
if [ $rc -eq 0 ] && [ -z "${KEEP_TEST_DIR:-}" ]; then rm -rf "$WORK"; fi
exit $rc
