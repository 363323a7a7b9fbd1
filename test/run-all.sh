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
  CORPUS_DIR="$WORK/shared/corpus/dev" bash "$WORK/test/run-suite.sh"
rc=$?
set -e
if [ $rc -eq 0 ] && [ -z "${KEEP_TEST_DIR:-}" ]; then rm -rf "$WORK"; fi
exit $rc
