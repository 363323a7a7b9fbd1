# Helpers for the tests under test/security/ (sourced): start `make run`'s script
# (test/services/run-local.sh) as make run does, but in a session of its own, with
# free ports, its own state folder and without the install/build steps.
SEC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$SEC_ROOT/test/services/lib.sh"

passed=0; failed=0
ok()  { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
summary() { echo "${passed} passed, ${failed} failed"; [ "$failed" -eq 0 ]; }

# now_ms: milliseconds since the epoch
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# run_dir: a fresh state folder for run-local.sh (INVOICEFLOW_RUN_DIR), under a
# parent every user may traverse, as a checkout's .run usually is
run_dir() {
  local d; d=$(mktemp -d "/tmp/invoiceflow-security.XXXXXX")
  chmod 755 "$d"; echo "$d"
}

# run_start RUN_DIR tee|fifo: starts `make run` (test/services/run-local.sh, through
# the Makefile's target) in a new session, thus its own process group, with stderr
# to RUN_DIR.err, and stdout
#   tee:  through `| tee -a RUN_DIR.log` in the same group, as `make run | tee run.log`
#         (a signal to the group ends tee too: the script's output is then a closed pipe)
#   fifo: into the FIFO RUN_DIR.fifo, which the caller reads and may close
# Sets RUN_SID (the session's id) and RUN_PGPORT, RUN_PORT (kept across calls).
run_start() {
  local dir=$1 mode=$2
  RUN_PGPORT=${RUN_PGPORT:-$(free_port)}; RUN_PORT=${RUN_PORT:-$(free_port)}
  rm -f "$dir.fifo"; [ "$mode" = fifo ] && mkfifo "$dir.fifo"
  # Not a group leader here (no job control), so setsid runs its command itself: $!
  # is the new session's id. Without job control bash starts background commands
  # with SIGINT ignored, which a script cannot trap: perl gives it back, as a
  # terminal's shell would have it.
  RUN_SKIP_BUILD=1 INVOICEFLOW_RUN_DIR="$dir" PGPORT=$RUN_PGPORT PORT=$RUN_PORT HOST=127.0.0.1 \
    setsid perl -e '$SIG{INT} = $SIG{QUIT} = "DEFAULT"; exec @ARGV or die "exec: $!"' \
      sh -c 'if [ "$1" = tee ]; then make -s -C "$2" run 2>>"$3.err" | tee -a "$3.log" >/dev/null
             else exec make -s -C "$2" run 2>>"$3.err" >"$3.fifo"; fi' sh "$mode" "$SEC_ROOT" "$dir" \
      < /dev/null > /dev/null 2>&1 &
  RUN_SID=$!
  disown "$RUN_SID"   # no "Hangup" notes from our shell when a case ends it
}

# run_ready RUN_DIR: waits (60 s) until run-local.sh said so in RUN_DIR.log and the
# gateway answers; sets RUN_PM
run_ready() {
  local dir=$1
  WAIT_SECONDS=60 wait_for grep -q '^Press Ctrl-C to stop' "$dir.log" || return 1
  if [ -x "$SEC_ROOT/sidecar/gateway/invoiceflow-gateway" ]; then
    WAIT_SECONDS=20 wait_for curl -fsS "http://127.0.0.1:$RUN_PORT/ready" || return 1
  fi
  run_postmaster "$dir"
}

# run_postmaster RUN_DIR: sets RUN_PM, the cluster's postmaster (pg_ctl makes it the
# leader of a session of its own: it is not in RUN_SID, and neither are its children)
run_postmaster() { RUN_PM=$(head -n 1 "$1/pg/data/postmaster.pid" 2>/dev/null); [ -n "$RUN_PM" ]; }

# run_left RUN_DIR: prints what is left of the run: the processes of session RUN_SID,
# of the postmaster's session RUN_PM, and any other naming the state folder
run_left() {
  local dir=$1
  ps -eo pid=,sid=,stat=,args= | awk -v sid="$RUN_SID" -v pm="${RUN_PM:--1}" -v dir="$dir/" \
    '($2 == sid || $2 == pm || index($0, dir)) && $3 !~ /^Z/ && !/ awk -v sid=/ { print }' || true
}

# run_wait_gone RUN_DIR SECONDS: waits until nothing of the run is left; prints the
# time it took in ms (or what is left after SECONDS)
run_wait_gone() {
  local dir=$1 secs=$2 t0 left; t0=$(now_ms)
  while :; do
    left=$(run_left "$dir")
    [ -z "$left" ] && { echo "$(( $(now_ms) - t0 ))"; return 0; }
    [ $(( $(now_ms) - t0 )) -ge $(( secs * 1000 )) ] && { echo "$left"; return 1; }
    sleep 0.05
  done
}

# run_diag RUN_DIR: the end of what the run and its server wrote (after a failure)
run_diag() {
  tail -n 15 "$1.log" "$1.err" 2>/dev/null | sed 's/^/#   /'
  tail -n 15 "$1/pg/postgres.log" 2>/dev/null | sed 's/^/#   postgres.log: /'
}

# run_kill RUN_DIR: ends whatever is left of a run (after a failed test)
run_kill() {
  local dir=$1
  kill -KILL -- "-$RUN_SID" 2>/dev/null || true
  [ -n "${RUN_PM:-}" ] || run_postmaster "$dir"
  bash "$SEC_ROOT/test/services/postgres.sh" stop "$dir/pg" >/dev/null 2>&1 || true
  # a server that would not stop must not outlive its deleted folder
  if [ -n "${RUN_PM:-}" ] && tr '\0' ' ' 2>/dev/null < "/proc/$RUN_PM/cmdline" | grep -qF "$dir/pg/data"; then
    kill -KILL "$RUN_PM" 2>/dev/null
  fi
  return 0
}
