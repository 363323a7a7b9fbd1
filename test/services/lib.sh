# Shared shell helpers for the service scripts (sourced, not run).

# free_port: prints a TCP port on 127.0.0.1 that no socket uses now.
# Picked below the kernel's ephemeral range (ip_local_port_range, 32768 and up
# by default), where outgoing connections take their source ports: a port that
# no server listens on can still be bound by a connection or sit in TIME_WAIT
# there, and a server (RabbitMQ's dist port, above all) then fails to bind it.
# Free = no TCP socket in any state has it as its local port.
free_port() {
  local p lo hi span=30000 hex
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=50000
  [ "$lo" -gt 21000 ] && span=$(( lo - 20000 ))
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % span ))
    hex=$(printf '%04X' "$p")
    if awk -v h=":$hex" 'index($2, h) == length($2) - 4 { found = 1 } END { exit !found }' \
         /proc/net/tcp /proc/net/tcp6 2>/dev/null; then continue; fi
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "free_port: no free port found" >&2; return 1
}

# wait_for CMD...: retries CMD every 0.1 s for up to WAIT_SECONDS (default 30).
wait_for() {
  local deadline=$(( $(date +%s) + ${WAIT_SECONDS:-30} ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# as_postgres CMD...: runs CMD as the postgres user when we are root, as ourselves otherwise.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

PG_BINDIR=${PG_BINDIR:-$(pg_config --bindir)}
