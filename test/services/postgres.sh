#!/usr/bin/env bash
# postgres.sh start DIR PORT [EXTRA_CONF_FILE] | stop DIR | password DIR ROLE
# A PostgreSQL 15 cluster in DIR (created on first use) with invoiceflow preloaded,
# listening on 127.0.0.1:PORT and a socket in DIR. Run as root it acts as postgres.
#
# Closed to other OS users (README § Database access):
#   - the socket lives in DIR, mode 0700 for the cluster's owner, and admits only
#     that owner's OS user, as the superuser postgres (peer authentication);
#   - TCP (127.0.0.1 only) asks every role for a scram-sha-256 password. The
#     superuser's is generated at initdb and kept in DIR/pgpass (a libpq password
#     file, mode 0600, the cluster owner's); `password DIR ROLE` sets a fresh one on
#     ROLE and prints its password-file line for the caller to keep (mode 0600).
# Opening it further is deliberate: pg_hba.conf lines in DIR/pg_hba.local.conf are
# appended at each start (and ALTER SYSTEM SET listen_addresses for other addresses).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?start|stop|password}; dir=${2:?cluster directory}

# the OS user the server runs as: the only one the socket admits
owner=postgres; [ "$(id -u)" -ne 0 ] && owner=$(id -un)

# new_password: 48 random hex characters
new_password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# as_owner_write FILE: stdin into FILE, created mode 0600 by the cluster's owner
as_owner_write() { as_postgres sh -c 'umask 077; cat > "$1"' sh "$1"; }

# socket_psql: psql as the superuser on the cluster's own socket (SQL on stdin, so
# that passwords never appear on a command line)
socket_psql() {
  local port; port=$(as_postgres sed -n 4p "$dir/data/postmaster.pid")
  as_postgres "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres
}

# lock_down: the access rules, written on every start (clusters made before them
# were created with trust: they are closed the same way)
lock_down() {
  chmod 700 "$dir" 2>/dev/null || as_postgres chmod 700 "$dir"
  as_owner_write "$dir/data/pg_hba.conf" <<HBA
# invoiceflow (test/services/postgres.sh): written at every start.
# The socket directory is private to its owner (mode 0700) and admits that OS
# user alone, as postgres; TCP asks every role for its scram-sha-256 password.
local all all                 peer map=owner
host  all all 127.0.0.1/32    scram-sha-256
host  all all ::1/128         scram-sha-256
HBA
  # opening it further is deliberate: lines of the owner's own in DIR/pg_hba.local.conf
  if as_postgres test -f "$dir/pg_hba.local.conf"; then
    { echo "# from $dir/pg_hba.local.conf"; as_postgres cat "$dir/pg_hba.local.conf"; } \
      | as_postgres tee -a "$dir/data/pg_hba.conf" >/dev/null
  fi
  echo "owner $owner postgres" | as_owner_write "$dir/data/pg_ident.conf"
  as_postgres grep -q '^unix_socket_permissions' "$dir/data/postgresql.conf" \
    || echo "unix_socket_permissions = 0700" | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
}

case "$cmd" in
start)
  port=${3:?port}; extra=${4:-}
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    pw=$(new_password)
    printf '%s\n' "$pw" | as_owner_write "$dir/initdb.pw"
    as_postgres "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --pwfile="$dir/initdb.pw" \
      --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$dir/initdb.pw"
    printf '*:*:*:postgres:%s\n' "$pw" | as_owner_write "$dir/pgpass"
    cat <<CONF | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
# invoiceflow
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
unix_socket_permissions = 0700
password_encryption = scram-sha-256
shared_preload_libraries = 'invoiceflow'
invoiceflow.database = 'postgres'
max_connections = 200
shared_buffers = 512MB
fsync = on
include_if_exists = 'invoiceflow.conf'
CONF
  fi
  lock_down
  as_postgres sed -i "s/^port = .*//" "$dir/data/postgresql.conf"
  echo "port = $port" | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
  if [ -n "$extra" ]; then
    as_owner_write "$dir/data/invoiceflow.conf" < "$extra"
  fi
  as_postgres "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
  # a cluster from before passwords: give its superuser one now
  if ! as_postgres test -s "$dir/pgpass"; then
    pw=$(new_password)
    echo "ALTER ROLE postgres PASSWORD '$pw';" | socket_psql
    printf '*:*:*:postgres:%s\n' "$pw" | as_owner_write "$dir/pgpass"
  fi
  ;;
stop)
  if as_postgres test -f "$dir/data/postmaster.pid"; then
    # fast: ends sessions, checkpoints; a server that does not stop (a crash
    # recovery that hangs) is then stopped at once, recovering at its next start
    as_postgres "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null \
      || as_postgres "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null || true
  fi
  ;;
password)
  # prints "*:*:*:ROLE:PASSWORD" (a libpq password-file line): the superuser's kept
  # password, or a fresh one set on ROLE now (the server must be running)
  role=${3:?role}
  [[ $role =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "postgres.sh: bad role name '$role'" >&2; exit 2; }
  if [ "$role" = postgres ]; then
    as_postgres cat "$dir/pgpass"
  else
    pw=$(new_password)
    echo "ALTER ROLE $role PASSWORD '$pw';" | socket_psql
    printf '*:*:*:%s:%s\n' "$role" "$pw"
  fi
  ;;
*) echo "usage: $0 start DIR PORT [CONF] | stop DIR | password DIR ROLE" >&2; exit 2 ;;
esac
