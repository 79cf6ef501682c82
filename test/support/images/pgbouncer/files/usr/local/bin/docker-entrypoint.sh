#!/usr/bin/env bash
# Test image entrypoint for PgBouncer. If the config file named by the command exists (uploaded
# into the container), it is used as is. Otherwise one is generated from edoburu/pgbouncer-style
# variables: DATABASE_URL or DB_HOST/DB_PORT/DB_USER/DB_PASSWORD(_FILE)/DB_NAME, POOL_MODE,
# DEFAULT_POOL_SIZE, MAX_CLIENT_CONN, AUTH_TYPE, LISTEN_PORT. PgBouncer refuses to run as root,
# so a root start drops to postgres.
set -Eeo pipefail
if [ "${1#-}" != "$1" ]; then set -- pgbouncer "$@"; fi
if [ "$1" = pgbouncer ]; then
  ini=${!#}
  case "$ini" in *.ini) ;; *) ini=/etc/pgbouncer/pgbouncer.ini; set -- "$@" "$ini" ;; esac
  if [ ! -s "$ini" ]; then
    if [ -n "${DB_PASSWORD_FILE:-}" ]; then DB_PASSWORD=$(<"$DB_PASSWORD_FILE"); fi
    if [ -n "${DATABASE_URL:-}" ]; then # postgres://user:pass@host:port/db
      rest=${DATABASE_URL#*://}
      creds=${rest%%@*}; hostpart=${rest#*@}
      DB_USER=${creds%%:*}; DB_PASSWORD=${creds#*:}
      hp=${hostpart%%/*}; DB_NAME=${hostpart#*/}; DB_NAME=${DB_NAME%%\?*}
      DB_HOST=${hp%%:*}; [ "$hp" != "$DB_HOST" ] && DB_PORT=${hp#*:}
    fi
    : "${DB_HOST:?DB_HOST or DATABASE_URL is required when no $ini is provided}"
    dir=$(dirname "$ini")
    if ! { mkdir -p "$dir" && [ -w "$dir" ]; } 2>/dev/null; then dir=/tmp/pgbouncer; mkdir -p "$dir"; ini=$dir/pgbouncer.ini; set -- "${@:1:$#-1}" "$ini"; fi
    if [ -n "${DB_USER:-}" ]; then printf '"%s" "%s"\n' "$DB_USER" "${DB_PASSWORD:-}" >"$dir/userlist.txt"; else : >"$dir/userlist.txt"; fi
    chmod 600 "$dir/userlist.txt"
    {
      echo "[databases]"
      if [ -n "${DB_NAME:-}" ]; then echo "$DB_NAME = host=$DB_HOST port=${DB_PORT:-5432} dbname=$DB_NAME"; fi
      echo "* = host=$DB_HOST port=${DB_PORT:-5432}"
      echo "[pgbouncer]"
      echo "listen_addr = ${LISTEN_ADDR:-0.0.0.0}"
      echo "listen_port = ${LISTEN_PORT:-5432}"
      echo "unix_socket_dir ="
      echo "auth_type = ${AUTH_TYPE:-scram-sha-256}"
      echo "auth_file = $dir/userlist.txt"
      echo "pool_mode = ${POOL_MODE:-transaction}"
      echo "max_client_conn = ${MAX_CLIENT_CONN:-100}"
      echo "default_pool_size = ${DEFAULT_POOL_SIZE:-20}"
      echo "ignore_startup_parameters = extra_float_digits,options"
      echo "admin_users = ${ADMIN_USERS:-${DB_USER:-postgres}}"
    } >"$ini"
    chmod 600 "$ini"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  fi
  if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
  fi
fi
exec "$@"
