#!/usr/bin/env bash
# run.sh CMD...: runs CMD with OPENSEARCH_URL set; starts the test double in a
# temporary folder (and stops it afterwards) unless OPENSEARCH_URL is set.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${OPENSEARCH_URL:-}" ]; then
  dir=$(mktemp -d /tmp/invoiceflow-os-test.XXXXXX)
  cleanup() {
    bash "$here/../services/opensearch.sh" stop "$dir"
    if [ "${rc:-1}" -ne 0 ] && [ -s "$dir/opensearch.log" ]; then
      echo "--- opensearch double log (tail)" >&2; tail -n 40 "$dir/opensearch.log" >&2
    fi
    rm -rf "$dir"
  }
  trap cleanup EXIT
  bash "$here/../services/opensearch.sh" start "$dir" || exit 1
  set -a; . "$dir/env"; set +a
fi
"$@"
rc=$?
exit $rc
