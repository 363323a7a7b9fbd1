# Shared shell helpers for the service scripts (sourced, not run).

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
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
