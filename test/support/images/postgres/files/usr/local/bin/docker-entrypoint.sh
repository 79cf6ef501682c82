#!/usr/bin/env bash
# Test image entrypoint modelled on the official postgres image's: on first start (empty PGDATA)
# initdb with POSTGRES_USER / POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE, any *_FILE), create
# POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sh|*.sql, then exec the server. Started as root it
# fixes PGDATA ownership and drops to postgres (uid 999); started as 999 it runs directly.
set -Eeo pipefail

file_env() { # VAR [DEFAULT]: VAR or the contents of the file named by VAR_FILE
  local var=$1 fileVar="${1}_FILE" def=${2:-} val
  if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then echo "error: both $var and $fileVar are set" >&2; exit 1; fi
  val=$def
  if [ -n "${!var:-}" ]; then val=${!var}; elif [ -n "${!fileVar:-}" ]; then val=$(<"${!fileVar}"); fi
  export "$var"="$val"
  unset "$fileVar"
}

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ]; then
  : "${PGDATA:=/var/lib/postgresql/data}"
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA" || true
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
      echo "error: database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE)" >&2
      exit 1
    fi
    mkdir -p "$PGDATA"; chmod 700 "$PGDATA"
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") -D "$PGDATA" $POSTGRES_INITDB_ARGS
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname postgres)
    if [ "$POSTGRES_DB" != postgres ]; then
      "${psql[@]}" --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
        *.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
        *) [ -e "$f" ] && echo "ignoring $f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
  fi
fi
exec "$@"
