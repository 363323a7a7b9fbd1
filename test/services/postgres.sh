#!/usr/bin/env bash
# postgres.sh start DIR PORT [EXTRA_CONF_FILE] | stop DIR
# A PostgreSQL 15 cluster in DIR (created on first use) with invoiceflow preloaded,
# listening on 127.0.0.1:PORT and a socket in DIR. Run as root it acts as postgres.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?start|stop}; dir=${2:?cluster directory}

case "$cmd" in
start)
  port=${3:?port}; extra=${4:-}
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_postgres "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$dir/data/postgresql.conf" <<CONF
# invoiceflow
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'invoiceflow'
invoiceflow.database = 'postgres'
max_connections = 200
shared_buffers = 512MB
fsync = on
include_if_exists = 'invoiceflow.conf'
CONF
  fi
  sed -i "s/^port = .*//" "$dir/data/postgresql.conf"
  echo "port = $port" >> "$dir/data/postgresql.conf"
  if [ -n "$extra" ]; then
    cp "$extra" "$dir/data/invoiceflow.conf"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/data/invoiceflow.conf"
    chmod 600 "$dir/data/invoiceflow.conf"
  fi
  as_postgres "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_postgres "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
  fi
  ;;
*) echo "usage: $0 start DIR PORT [CONF] | stop DIR" >&2; exit 2 ;;
esac
