#!/usr/bin/env bash
# opensearch.sh start DIR | stop DIR
# The in-memory OpenSearch test double (opensearch_double.py) on 127.0.0.1, on a
# port the kernel picks (no race with other services). Writes DIR/env with
# OPENSEARCH_URL and OPENSEARCH_PID; logs to DIR/opensearch.log.
# OPENSEARCH_DOUBLE_AUTH=user:password makes it require HTTP basic auth.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?start|stop}; dir=${2:?state directory}
here=$(cd "$(dirname "$0")" && pwd)
PY=${OPENSEARCH_DOUBLE_PYTHON:-/usr/bin/python3}

case "$cmd" in
start)
  mkdir -p "$dir"
  rm -f "$dir/opensearch.port"
  "$PY" "$here/opensearch_double.py" --port 0 --port-file "$dir/opensearch.port" \
    >"$dir/opensearch.log" 2>&1 </dev/null &
  pid=$!
  if ! WAIT_SECONDS=${WAIT_SECONDS:-20} wait_for test -s "$dir/opensearch.port"; then
    kill "$pid" 2>/dev/null || true
    echo "opensearch.sh: the double did not start; see $dir/opensearch.log" >&2; exit 1
  fi
  port=$(cat "$dir/opensearch.port")
  printf 'OPENSEARCH_URL=http://127.0.0.1:%s\nOPENSEARCH_PID=%s\n' "$port" "$pid" > "$dir/env"
  ;;
stop)
  if [ -f "$dir/env" ]; then
    pid=$(sed -n 's/^OPENSEARCH_PID=//p' "$dir/env")
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  ;;
*) echo "usage: $0 start DIR | stop DIR" >&2; exit 2 ;;
esac
