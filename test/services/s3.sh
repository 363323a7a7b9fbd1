#!/usr/bin/env bash
# s3.sh CMD DIR: the S3 test server for the tests: s3rver (data in DIR/data,
# bucket "invoiceflow", key S3RVER/S3RVER) behind sigv4_proxy.py, which
# refuses any request whose SigV4 signature botocore does not reproduce.
# Both listen on 127.0.0.1 only.
#
#   start DIR    pick ports, start both, wait until they answer, write DIR/env
#   stop DIR     stop both (by PID)
#   down DIR     stop both, keep ports and data (an S3 outage)
#   up DIR       start both again on the SAME ports
#   restart DIR  down + up
#
# DIR/env (KEY=VALUE lines, sourced by test/run-suite.sh):
#   S3_ENDPOINT_URL   http://127.0.0.1:PPORT   the verifying proxy: use this one
#   S3_DIRECT_URL     http://127.0.0.1:SPORT   s3rver itself (no strict SigV4)
#   S3_BUCKET=invoiceflow  AWS_ACCESS_KEY_ID=S3RVER  AWS_SECRET_ACCESS_KEY=S3RVER
#   AWS_REGION=us-east-1   S3_DIR=DIR  S3_SH=<this script>
#   S3_PROXY_PID, S3RVER_PID, S3_PROXY_PORT, S3RVER_PORT
# Logs: DIR/s3rver.log, DIR/proxy.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: s3.sh start|stop|down|up|restart DIR}
dir=${2:?state directory}
case "$cmd" in start) mkdir -p "$dir" ;; esac
[ -d "$dir" ] || { [ "$cmd" = stop ] && exit 0; echo "$(basename "$0"): no directory $dir" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
self="$here/$(basename "$0")"
PY=${S3_PROXY_PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
S3RVER_JS="$here/node_modules/s3rver/bin/s3rver.js"
BUCKET=invoiceflow KEY=S3RVER SECRET=S3RVER REGION=us-east-1

getenv() { sed -n "s/^$1=//p" "$dir/env" 2>/dev/null | tail -n 1; }

stop_pid() {  # stop_pid PID: TERM, wait up to 5 s, KILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# start_both S3RVER_PORT PROXY_PORT (0 = any): starts s3rver then the proxy,
# sets S3RVER_PID S3RVER_PORT PROXY_PID PROXY_PORT
start_both() {
  [ -f "$S3RVER_JS" ] || { echo "s3.sh: s3rver is missing; run test/services/install-deps.sh" >&2; return 1; }
  mkdir -p "$dir/data"
  : >"$dir/s3rver.log"
  setsid "$NODE" "$S3RVER_JS" -d "$dir/data" -a 127.0.0.1 -p "$1" \
    --configure-bucket "$BUCKET" >>"$dir/s3rver.log" 2>&1 </dev/null &
  S3RVER_PID=$!
  if ! WAIT_SECONDS=${WAIT_SECONDS:-30} wait_for grep -q 'S3rver listening on' "$dir/s3rver.log"; then
    echo "s3.sh: s3rver did not start; see $dir/s3rver.log" >&2; tail -n 20 "$dir/s3rver.log" >&2
    stop_pid "$S3RVER_PID"; return 1
  fi
  S3RVER_PORT=$(sed -n 's/.*S3rver listening on [0-9.]*:\([0-9]*\).*/\1/p' "$dir/s3rver.log" | tail -n 1)
  rm -f "$dir/proxy.port"
  setsid "$PY" "$here/sigv4_proxy.py" --upstream "http://127.0.0.1:$S3RVER_PORT" \
    --port "$2" --port-file "$dir/proxy.port" --access-key "$KEY" --secret-key "$SECRET" \
    --region "$REGION" ${S3_PROXY_VERBOSE:+--verbose} >>"$dir/proxy.log" 2>&1 </dev/null &
  PROXY_PID=$!
  if ! WAIT_SECONDS=${WAIT_SECONDS:-30} wait_for test -s "$dir/proxy.port"; then
    echo "s3.sh: sigv4_proxy did not start; see $dir/proxy.log" >&2; tail -n 20 "$dir/proxy.log" >&2
    stop_pid "$PROXY_PID"; stop_pid "$S3RVER_PID"; return 1
  fi
  PROXY_PORT=$(cat "$dir/proxy.port")
}

write_env() {
  cat >"$dir/env" <<EOF2
S3_ENDPOINT_URL=http://127.0.0.1:$PROXY_PORT
S3_DIRECT_URL=http://127.0.0.1:$S3RVER_PORT
S3_BUCKET=$BUCKET
AWS_ACCESS_KEY_ID=$KEY
AWS_SECRET_ACCESS_KEY=$SECRET
AWS_REGION=$REGION
S3_DIR=$dir
S3_SH=$self
S3_PROXY_PID=$PROXY_PID
S3_PROXY_PORT=$PROXY_PORT
S3RVER_PID=$S3RVER_PID
S3RVER_PORT=$S3RVER_PORT
EOF2
}

stop_both() {
  stop_pid "$(getenv S3_PROXY_PID)"
  stop_pid "$(getenv S3RVER_PID)"
}

case "$cmd" in
start)
  if [ -n "$(getenv S3RVER_PID)" ] && kill -0 "$(getenv S3RVER_PID)" 2>/dev/null; then
    echo "s3.sh: already running for $dir; stop it first" >&2; exit 1
  fi
  rm -rf "$dir/data" "$dir/env"; : >"$dir/proxy.log"
  start_both 0 0
  write_env
  ;;
up)
  [ -f "$dir/env" ] || { echo "s3.sh: nothing in $dir (run start first)" >&2; exit 1; }
  if [ -n "$(getenv S3RVER_PID)" ] && kill -0 "$(getenv S3RVER_PID)" 2>/dev/null; then exit 0; fi
  start_both "$(getenv S3RVER_PORT)" "$(getenv S3_PROXY_PORT)"
  write_env
  ;;
down|stop)
  [ -f "$dir/env" ] || exit 0
  stop_both
  ;;
restart)
  bash "$self" down "$dir" && bash "$self" up "$dir"
  ;;
*) echo "usage: $0 start|stop|down|up|restart DIR" >&2; exit 2 ;;
esac
