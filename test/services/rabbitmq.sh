#!/usr/bin/env bash
# rabbitmq.sh CMD DIR: a private RabbitMQ 3.10 node for the tests, run as the
# current user (root or not), listening on 127.0.0.1 only.
#
#   start DIR    pick free ports, start epmd and the node, wait until it is up,
#                write DIR/env
#   stop DIR     stop the node and the epmd this script started (by PID)
#   down DIR     stop the node only (a broker outage); ports and data are kept
#   up DIR       start the node again on the SAME ports, wait until it is up
#   restart DIR  down + up
#   pause DIR    SIGSTOP the node (a hung broker: connections open, no answers)
#   resume DIR   SIGCONT it
#
# DIR/env (KEY=VALUE lines, sourced by test/run-suite.sh):
#   RABBITMQ_URL       amqp://guest:guest@127.0.0.1:PORT/
#   RABBITMQ_PORT      AMQP port
#   RABBITMQ_NODENAME  ifNNN@localhost
#   RABBITMQ_DIR       DIR (for `rabbitmq.sh down|up|pause|resume "$RABBITMQ_DIR"`)
#   RABBITMQ_SH        the path of this script
#   RABBITMQ_CTL       DIR/rabbitmqctl, a wrapper running rabbitmqctl against
#                      this node (e.g. `"$RABBITMQ_CTL" list_queues`);
#                      DIR/rabbitmq-diagnostics likewise
#   RABBITMQ_PID       PID of the node's start script (its child is the VM)
#   RABBITMQ_EPMD_PORT, RABBITMQ_DIST_PORT, RABBITMQ_EPMD_PID
# The node's log is under DIR/log; the start script's output in DIR/server.out.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: rabbitmq.sh start|stop|down|up|restart|pause|resume DIR}
dir=${2:?state directory}
case "$cmd" in start) mkdir -p "$dir" ;; esac
[ -d "$dir" ] || { [ "$cmd" = stop ] && exit 0; echo "$(basename "$0"): no directory $dir" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

sbin=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin 2>/dev/null | sort -V | tail -n 1)
[ -n "$sbin" ] || { echo "rabbitmq.sh: RabbitMQ is not installed (rabbitmq-server)" >&2; exit 1; }
EPMD=$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd | head -n 1)

getenv() { sed -n "s/^$1=//p" "$dir/env" 2>/dev/null | tail -n 1; }

# Environment shared by the server and every CLI call (same HOME = same cookie).
node_env() {
  export HOME="$dir/home"
  export RABBITMQ_NODENAME="$NODENAME"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$PORT"
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export ERL_EPMD_PORT="$EPMD_PORT"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/node.pid"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

load_ports() {
  NODENAME=$(getenv RABBITMQ_NODENAME); PORT=$(getenv RABBITMQ_PORT)
  DIST_PORT=$(getenv RABBITMQ_DIST_PORT); EPMD_PORT=$(getenv RABBITMQ_EPMD_PORT)
  [ -n "$NODENAME" ] && [ -n "$PORT" ] || { echo "rabbitmq.sh: no node in $dir (run start first)" >&2; exit 1; }
}

# A port below 50000: the CLI tools use RABBITMQ_DIST_PORT + 10000 and up.
low_free_port() {
  local p
  for _ in $(seq 1 50); do p=$(free_port); [ "$p" -lt 50000 ] && { echo "$p"; return 0; }; done
  return 1
}

server_pid() { getenv RABBITMQ_PID; }
vm_pid() { local p; p=$(server_pid); [ -n "$p" ] && pgrep -P "$p" | head -n 1; }

start_epmd() {
  if [ -n "$(getenv RABBITMQ_EPMD_PID)" ] && kill -0 "$(getenv RABBITMQ_EPMD_PID)" 2>/dev/null; then
    echo "$(getenv RABBITMQ_EPMD_PID)"; return 0
  fi
  # Our own epmd in the foreground (not -daemon), so that we know its PID;
  # the node and every CLI call find it on ERL_EPMD_PORT and start no other.
  setsid "$EPMD" -port "$EPMD_PORT" -address 127.0.0.1 >"$dir/epmd.out" 2>&1 </dev/null &
  local pid=$!
  WAIT_SECONDS=10 wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$EPMD_PORT" || {
    echo "rabbitmq.sh: epmd did not start on port $EPMD_PORT" >&2; kill "$pid" 2>/dev/null; exit 1; }
  echo "$pid"
}

start_node() {  # starts the node with the ports in $PORT etc.; prints its PID
  node_env
  rm -f "$dir/node.pid"
  setsid "$sbin/rabbitmq-server" >>"$dir/server.out" 2>&1 </dev/null &
  echo $!
}

wait_node() {
  node_env
  local deadline=$(( $(date +%s) + ${WAIT_SECONDS:-60} ))
  until "$sbin/rabbitmq-diagnostics" -q ping >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$1" 2>/dev/null; then
      echo "rabbitmq.sh: the node did not start; see $dir/server.out and $dir/log" >&2
      tail -n 30 "$dir/server.out" >&2 || true
      return 1
    fi
    sleep 0.3
  done
  "$sbin/rabbitmqctl" -q await_startup --timeout "${WAIT_SECONDS:-60}" >/dev/null
}

write_env() {
  cat >"$dir/env" <<EOF
RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$PORT/
RABBITMQ_PORT=$PORT
RABBITMQ_NODENAME=$NODENAME
RABBITMQ_DIR=$dir
RABBITMQ_SH=$self
RABBITMQ_CTL=$dir/rabbitmqctl
RABBITMQ_PID=$1
RABBITMQ_EPMD_PORT=$EPMD_PORT
RABBITMQ_EPMD_PID=$2
RABBITMQ_DIST_PORT=$DIST_PORT
EOF
}

write_wrappers() {
  local tool
  for tool in rabbitmqctl rabbitmq-diagnostics rabbitmq-plugins; do
    cat >"$dir/$tool" <<EOF
#!/bin/sh
# $tool against the test node in $dir
export HOME='$dir/home' RABBITMQ_NODENAME='$NODENAME' ERL_EPMD_PORT='$EPMD_PORT' ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT='$PORT' RABBITMQ_DIST_PORT='$DIST_PORT'
export RABBITMQ_CONF_ENV_FILE='$dir/rabbitmq-env.conf' RABBITMQ_CONFIG_FILE='$dir/rabbitmq'
export RABBITMQ_ADVANCED_CONFIG_FILE='$dir/advanced.config'
export RABBITMQ_MNESIA_BASE='$dir/mnesia' RABBITMQ_LOG_BASE='$dir/log'
export RABBITMQ_ENABLED_PLUGINS_FILE='$dir/enabled_plugins'
export RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
exec '$sbin/$tool' "\$@"
EOF
    chmod +x "$dir/$tool"
  done
}

stop_node() {  # graceful stop, then TERM/KILL by PID
  local pid vm
  pid=$(server_pid); vm=$(vm_pid || true)
  [ -n "$vm" ] && kill -CONT "$vm" 2>/dev/null || true
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    node_env
    timeout 30 "$sbin/rabbitmqctl" -q stop >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ -n "$vm" ] && kill -0 "$vm" 2>/dev/null; then
    kill -KILL "$vm" 2>/dev/null || true
  fi
  # The VM's helpers (erl_child_setup, inet_gethost) die with it.
  if [ -n "$vm" ]; then for _ in $(seq 1 50); do kill -0 "$vm" 2>/dev/null || break; sleep 0.1; done; fi
}

case "$cmd" in
start)
  if [ -f "$dir/env" ] && [ -n "$(getenv RABBITMQ_PID)" ] && kill -0 "$(getenv RABBITMQ_PID)" 2>/dev/null; then
    echo "rabbitmq.sh: a node already runs for $dir; stop it first" >&2; exit 1
  fi
  rm -rf "$dir/home" "$dir/mnesia" "$dir/log" "$dir/env"
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  NODENAME="if$$@localhost"
  PORT=$(free_port); EPMD_PORT=$(free_port)
  DIST_PORT=$(low_free_port)
  while [ "$EPMD_PORT" = "$PORT" ] || [ "$DIST_PORT" = "$PORT" ] || [ "$DIST_PORT" = "$EPMD_PORT" ]; do
    EPMD_PORT=$(free_port); DIST_PORT=$(low_free_port)
  done
  : >"$dir/rabbitmq-env.conf"
  echo '[].' >"$dir/enabled_plugins"
  echo '[].' >"$dir/advanced.config"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$PORT
loopback_users.guest = true
log.file.level = info
log.console = false
vm_memory_high_watermark.relative = 0.6
disk_free_limit.absolute = 50MB
EOF
  # a free port can be taken between the check and epmd's bind (other suites
  # on the machine): try another one
  epmd_pid=
  for _ in 1 2 3; do
    epmd_pid=$(start_epmd) && break
    EPMD_PORT=$(free_port)
  done
  [ -n "$epmd_pid" ] || exit 1
  pid=$(start_node)
  write_env "$pid" "$epmd_pid"
  write_wrappers
  if ! wait_node "$pid"; then bash "$self" stop "$dir" || true; exit 1; fi
  ;;
up)
  load_ports
  if [ -n "$(server_pid)" ] && kill -0 "$(server_pid)" 2>/dev/null; then exit 0; fi
  epmd_pid=$(start_epmd)
  pid=$(start_node)
  write_env "$pid" "$epmd_pid"
  wait_node "$pid"
  ;;
down)
  load_ports
  stop_node
  ;;
restart)
  bash "$self" down "$dir" && bash "$self" up "$dir"
  ;;
pause|resume)
  load_ports
  vm=$(vm_pid || true)
  [ -n "$vm" ] || { echo "rabbitmq.sh: the node does not run" >&2; exit 1; }
  if [ "$cmd" = pause ]; then kill -STOP "$vm"; else kill -CONT "$vm"; fi
  ;;
stop)
  [ -f "$dir/env" ] || exit 0
  load_ports
  stop_node
  epid=$(getenv RABBITMQ_EPMD_PID)
  if [ -n "$epid" ] && kill -0 "$epid" 2>/dev/null; then
    kill -TERM "$epid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$epid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$epid" 2>/dev/null || true
  fi
  ;;
*) echo "usage: $0 start|stop|down|up|restart|pause|resume DIR" >&2; exit 2 ;;
esac
