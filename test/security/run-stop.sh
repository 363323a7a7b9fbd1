#!/usr/bin/env bash
# issue 9 item 8: `make run` stops everything it started, however it is told to.
# Starts `make run | tee run.log` in a session of its own (free ports, its own state
# folder, no build: test/security/lib.sh), waits until it is ready, then ends it by
#   SIGINT to its process group    (Ctrl-C in the terminal: tee goes too)
#   SIGTERM to its process group   (a supervisor, `kill -TERM -- -PGID`)
#   SIGHUP to its process group    (the terminal closes)
#   closing its output pipe        (the reader of `make run | ...` goes away alone)
#   SIGKILL to the gateway alone   (a sidecar that ends, crashed or stopped by a
#                                   signal the script itself had to ignore)
# and checks that no process of it is left (make, the script, PostgreSQL, gateway,
# processor, tee) within STOP_SECONDS (default 12); prints the time each took.
# Runs as root (make test) or as any user who can run make run.
#   bash test/security/run-stop.sh
set -uo pipefail
. "$(dirname "$0")/lib.sh"
LIMIT=${STOP_SECONDS:-12}
DIR=$(run_dir)
trap 'exec 3<&- 2>/dev/null; run_kill "$DIR"; rm -rf "$DIR" "$DIR".*' EXIT

# stop_case NAME MODE HOW: one start (MODE, see run_start) and one way to end it
stop_case() {
  local name=$1 mode=$2 how=$3 left line
  RUN_PM=
  run_start "$DIR" "$mode"
  if [ "$mode" = fifo ]; then
    # we are the pipe's reader: copy to the log what it prints until it is ready
    exec 3< "$DIR.fifo"
    while IFS= read -r -t 60 line <&3; do
      echo "$line" >> "$DIR.log"
      [[ $line == "Press Ctrl-C to stop."* ]] && break
    done
  fi
  if ! run_ready "$DIR"; then
    nok "$name: make run did not start"; run_diag "$DIR"
    exec 3<&- 2>/dev/null; run_kill "$DIR"; return
  fi
  "$how"
  if left=$(run_wait_gone "$DIR" "$LIMIT"); then
    ok "$name: nothing left after $left ms"
    echo "$name: $left ms" >> "$DIR.figures"
  else
    nok "$name: still running after ${LIMIT}s:"; echo "$left" | sed 's/^/#   /'
    tail -n 5 "$DIR.err" | sed 's/^/#   /'
    run_kill "$DIR"
  fi
  rm -f "$DIR.log"
}
sig_int()    { kill -INT  -- "-$RUN_SID"; }
sig_term()   { kill -TERM -- "-$RUN_SID"; }
sig_hup()    { kill -HUP  -- "-$RUN_SID"; }
close_pipe() { exec 3<&-; }
kill_gateway() {
  pkill -KILL -s "$RUN_SID" -f "/sidecar/gateway/invoiceflow-gateway" || echo "# no gateway to kill"
}

stop_case "SIGINT to make run | tee's process group" tee sig_int
stop_case "SIGTERM to make run | tee's process group" tee sig_term
stop_case "SIGHUP to make run | tee's process group" tee sig_hup
stop_case "make run's output pipe closed" fifo close_pipe
stop_case "make run's gateway killed" tee kill_gateway
[ -f "$DIR.figures" ] && { echo "# time to stop:"; sed 's/^/#   /' "$DIR.figures"; }
summary
