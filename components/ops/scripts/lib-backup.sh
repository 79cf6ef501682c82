# shellcheck shell=bash
# Functions shared by the backup scripts (spliced in after lib-common.sh by the renderer).
# Needs: LG_PG_CONTAINER, LG_PG_USER, LG_LOCK_FILE, LG_LOCK_WAIT_SECONDS (+ lib-workload.sh).

# Serialises every backup, retention and drill run on this host (systemd timers can overlap
# with each other and with a pre-migration backup); waits up to LG_LOCK_WAIT_SECONDS.
lock_backups() {
  # /run/lock comes from systemd-tmpfiles on a systemd host; a host without it (the local stack's
  # container VPS, /run a bare tmpfs) has to create it.
  mkdir -p "$(dirname "$LG_LOCK_FILE")"
  exec 9>"$LG_LOCK_FILE"
  if ! flock -w "${LG_LOCK_WAIT_SECONDS:-3600}" 9; then
    log "another backup run still holds $LG_LOCK_FILE after ${LG_LOCK_WAIT_SECONDS:-3600}s"
    exit 75
  fi
}

# PG_CONTAINER: the Postgres server's container on this host (its Swarm task on a swarm), found
# once per run by resolve_postgres (lib-workload.sh); exits with the reason when there is none.
PG_CONTAINER=""
resolve_postgres() {
  if ! PG_CONTAINER=$(lg_container "$LG_PG_CONTAINER"); then
    log "no Postgres server to back up or drill on this host"
    exit 1
  fi
}

# psql inside the postgres container over its local socket: lg_psql DB [psql args...] (SQL on stdin or -c).
lg_psql() {
  local db=$1
  shift
  docker exec -i "$PG_CONTAINER" psql -U "$LG_PG_USER" -d "$db" -qAtX -v ON_ERROR_STOP=1 "$@"
}

# One "schema.table|rows" line per ordinary table, sorted; exact counts (count(*)), not estimates.
# shellcheck disable=SC2034 # used by the scripts this library is spliced into
COUNT_ROWS_SQL="SELECT format('%I.%I', n.nspname, c.relname) || '|' ||
  (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1;"

# JSON object from "key|number" lines on stdin.
json_counts() {
  local first=1 k v
  printf '{'
  while IFS='|' read -r k v; do
    [ -n "$k" ] || continue
    [ "$first" -eq 1 ] || printf ','
    first=0
    printf '%s:%s' "$(json_str "$k")" "${v:-0}"
  done
  printf '}'
}

# Newest file matching GLOB-pattern $2 under directory $1 (by mtime), or nothing.
newest() {
  find "$1" -maxdepth 1 -type f -name "$2" -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2-
}
