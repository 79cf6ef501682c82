#!/usr/bin/env bash
# Restore drill, as a recovery would run: for each database, start a scratch PostgreSQL cluster
# (a throwaway container from the live server's image, user and command, no network), restore
# the newest dump's globals first (roles, memberships: <dump>.globals.sql), then the dump itself
# with owners and grants kept (`pg_restore --create`, no --no-owner/--no-privileges), compare
# per-table row counts with the dump's snapshot, and read every table as the database's owner
# (the app role) and check it can use every sequence — a restore whose app role gets "permission
# denied" fails the drill. First, the dump and its globals must still be the bytes the backup
# verified (<dump>.sha256) and the globals complete. The scratch cluster is removed on every
# path; the live cluster is never written to (restoring globals there would reset live passwords
# to the dump's).
# The result goes to LG_DRILL_RESULT (JSON, written atomically) — the evidence the "backups
# tested" gate reads:
#   {ok, startedAt, finishedAt, durationMs, dump, sizeBytes, tables, rowCounts, appRole, checks[],
#    error?, databases[]}
# (top-level dump/sizeBytes/tables/rowCounts/appRole/checks describe the first database;
# `databases` has all; `checks` names what was verified). "Source" means the source database in
# the dump's own snapshot (<dump>.counts, written by backup-postgres.sh), so writes after the dump
# cannot fail the drill; a dump without that file is compared with the live source. Any failure —
# unreadable archive, missing globals, restore error, missing or mismatching table, a table the
# app role cannot read — records ok:false and exits non-zero, so the timer unit shows failed.
# Needs: LG_BACKUP_DIR LG_DRILL_RESULT LG_PG_CONTAINER LG_PG_USER LG_DATABASES LG_LOCK_FILE LG_PLACEMENT
#   (+ lib-workload.sh, lib-backup.sh).
set -euo pipefail
lock_backups
resolve_postgres

started_ms=$(now_ms)
started_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
scratch=""
drop_scratch() {
  if [ -n "$scratch" ]; then
    docker rm -f -v "$scratch" >/dev/null 2>&1 || log "could not remove $scratch"
    scratch=""
  fi
}

# Parallel restore jobs: the host's CPUs, at most 4 (more buys little for one database).
jobs=$(nproc 2>/dev/null || echo 1)
[ "$jobs" -le 4 ] || jobs=4
ok=true
first_error=""
entries=()
top=""

# Sequences outside the system schemas the current role cannot use (nextval: USAGE on the
# sequence and on its schema), one "schema.name" per line.
UNUSABLE_SEQUENCES_SQL="SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_sequence_privilege(c.oid, 'USAGE'))
ORDER BY 1;"

# psql in the scratch cluster as its superuser over the local socket: in_scratch DB [args...]
in_scratch() {
  local db=$1
  shift
  docker exec -i "$scratch" psql -U "$LG_PG_USER" -d "$db" -qAtX -v ON_ERROR_STOP=1 "$@"
}

# start_scratch: a cluster like the live one (image, entrypoint, command, user, memory), with a
# random superuser password, no network (local socket trusted: only `docker exec` reaches it) and
# a PIDs limit; waits until it accepts connections.
start_scratch() {
  local image user memory ep=() cmd=() run=()
  image=$(docker inspect -f '{{.Config.Image}}' "$PG_CONTAINER")
  user=$(docker inspect -f '{{.Config.User}}' "$PG_CONTAINER")
  memory=$(docker inspect -f '{{.HostConfig.Memory}}' "$PG_CONTAINER")
  mapfile -t ep < <(docker inspect -f '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$PG_CONTAINER" | sed '/^$/d')
  mapfile -t cmd < <(docker inspect -f '{{range .Config.Cmd}}{{println .}}{{end}}' "$PG_CONTAINER" | sed '/^$/d')
  scratch="lg-drill-$(date -u +%Y%m%d%H%M%S)-$$"
  run=(docker run -d --name "$scratch" --network none --pids-limit 512
    --label launchgate.role=job --label launchgate.job=restore-drill
    --tmpfs "/var/run/postgresql:rw,nosuid,nodev,size=1m" --shm-size 128m
    -e "POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    -e "POSTGRES_USER=$LG_PG_USER" -e "POSTGRES_INITDB_ARGS=--auth-local=trust --auth-host=scram-sha-256 --no-sync")
  [ -z "$user" ] || run+=(--user "$user")
  [ "${memory:-0}" = 0 ] || run+=(--memory "$memory" --memory-swap "$memory")
  # A throwaway cluster needs no durability: no fsync, no full-page writes, rare checkpoints
  # (the live server's flags come first; later -c values win).
  cmd+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB)
  if [ "${#ep[@]}" -gt 0 ]; then
    run+=(--entrypoint "${ep[0]}" "$image" "${ep[@]:1}" "${cmd[@]}")
  else
    run+=("$image" "${cmd[@]}")
  fi
  if ! err=$("${run[@]}" 2>&1); then
    scratch=""
    echo "cannot start a scratch cluster from $image: $err" >&2
    return 1
  fi
  # TCP on loopback answers only once the entrypoint's init server (socket only) has stopped.
  for _ in $(seq 1 240); do
    if docker exec "$scratch" pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then return 0; fi
    if [ "$(docker inspect -f '{{.State.Running}}' "$scratch" 2>/dev/null)" != true ]; then break; fi
    sleep 0.25
  done
  echo "scratch cluster $scratch did not start: $(docker logs --tail 5 "$scratch" 2>&1 | tr '\n' ' ')" >&2
  return 1
}

# drill_one DB: prints the JSON fields of DB's entry; returns non-zero with the reason on stderr.
# Runs in a command substitution, where `set -e` does not apply: every step is checked, and the
# subshell's own EXIT trap removes the scratch cluster on every path.
drill_one() {
  local db=$1 dump size expected actual tables diffs err owner reads checks unusable
  trap drop_scratch EXIT
  dump=$(newest "$LG_BACKUP_DIR/postgres/$db" '*.dump')
  if [ -z "$dump" ]; then
    echo "no dump of $db under $LG_BACKUP_DIR/postgres/$db" >&2
    return 1
  fi
  size=$(stat -c %s "$dump")
  printf '"dump":%s,"sizeBytes":%s' "$(json_str "$dump")" "$size"
  if [ ! -s "$dump.globals.sql" ]; then
    echo "no globals beside $dump ($dump.globals.sql): the roles its owners and grants name cannot be restored" >&2
    return 1
  fi
  # The bytes the backup verified (<dump>.sha256, written by backup-postgres.sh; a dump from
  # before it had one is restored without this check, and its record does not list it).
  checks=""
  if [ -f "$dump.sha256" ]; then
    if ! err=$(cd "$(dirname "$dump")" && sha256sum --quiet --strict -c -- "${dump##*/}.sha256" 2>&1); then
      echo "$dump changed on disk since the backup verified it (its sha256 or its globals' differs from $dump.sha256: $(tr '\n' ' ' <<<"$err")); drill an earlier or off-site copy" >&2
      return 1
    fi
    checks='"dump and globals match their backup-time sha256",'
  fi
  if ! tail -5 "$dump.globals.sql" | grep -q 'PostgreSQL database cluster dump complete'; then
    echo "the globals beside $dump ($dump.globals.sql) are incomplete (no completion line from pg_dumpall): roles may be missing" >&2
    return 1
  fi
  start_scratch || return 1
  # Roles first, as a recovery into a new cluster must; the scratch superuser exists already.
  if ! err=$(sed -E "/^CREATE ROLE \"?${LG_PG_USER}\"?;\$/d" "$dump.globals.sql" | in_scratch postgres 2>&1); then
    echo "restoring the globals ($dump.globals.sql) failed: $(tail -3 <<<"$err")" >&2
    return 1
  fi
  # The database as it was: created by pg_restore with its owner, ACLs and settings. Parallel
  # jobs need a seekable file, so the archive is copied into the scratch container first (its
  # own writable layer, gone with it).
  if ! err=$(docker exec -i "$scratch" sh -c 'umask 077; cat >/tmp/drill.dump' <"$dump" 2>&1); then
    echo "cannot copy $dump into the scratch cluster: $err" >&2
    return 1
  fi
  if ! err=$(docker exec "$scratch" pg_restore -U "$LG_PG_USER" -d postgres --create --exit-on-error \
    -j "$jobs" /tmp/drill.dump 2>&1); then
    echo "pg_restore of $dump failed: $(tail -5 <<<"$err")" >&2
    return 1
  fi
  if ! actual=$(in_scratch "$db" -c "$COUNT_ROWS_SQL" 2>&1); then
    echo "cannot count rows in the restored $db: $actual" >&2
    return 1
  fi
  if [ -f "$dump.counts" ]; then
    expected=$(cat "$dump.counts")
  elif ! expected=$(lg_psql "$db" -c "$COUNT_ROWS_SQL" 2>&1); then
    echo "cannot count rows in $db: $expected" >&2
    return 1
  fi
  tables=$(grep -c . <<<"$actual" || true)
  printf ',"tables":%s,"rowCounts":%s' "$tables" "$(json_counts <<<"$actual")"
  if [ "$actual" != "$expected" ]; then
    diffs=$(diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") | grep '^[<>]' | head -10 | tr '\n' ' ')
    printf ',"expectedRowCounts":%s' "$(json_counts <<<"$expected")"
    echo "row counts of the restore differ from the source (< source, > restored): $diffs" >&2
    return 1
  fi
  if [ "$tables" -eq 0 ]; then
    echo "the dump of $db restored no tables" >&2
    return 1
  fi
  # The app role (the database's owner) must read every table of the restore, as the app would.
  owner=$(in_scratch "$db" -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
  printf ',"appRole":%s' "$(json_str "$owner")"
  reads=$(cut -d'|' -f1 <<<"$actual" | sed -E 's/^(.*)$/SELECT 1 FROM ONLY \1 LIMIT 1;/')
  if ! err=$(printf 'SET ROLE %s;\n%s\n' "\"$owner\"" "$reads" | in_scratch "$db" 2>&1); then
    echo "the app role $owner cannot read the restored $db: $(tail -3 <<<"$err")" >&2
    return 1
  fi
  # ... and use every sequence (nextval needs USAGE on it and its schema): a sequence it cannot
  # use fails the app's inserts as surely as an unreadable table fails its reads.
  if ! unusable=$(printf 'SET ROLE %s;\n%s\n' "\"$owner\"" "$UNUSABLE_SEQUENCES_SQL" | in_scratch "$db" 2>&1); then
    echo "cannot list the sequences of the restored $db as $owner: $(tail -3 <<<"$unusable")" >&2
    return 1
  fi
  if [ -n "$unusable" ]; then
    echo "the app role $owner cannot use the restored sequence(s) $(paste -sd' ' <<<"$unusable") of $db: its inserts would fail with permission denied" >&2
    return 1
  fi
  checks+='"globals restored first (roles)","restored with owners and grants (pg_restore --create)","row counts equal the dump snapshot","app role reads every table","app role uses every sequence"'
  printf ',"checks":[%s]' "$checks"
}

for db in $LG_DATABASES; do
  errfile=$(mktemp)
  if fields=$(drill_one "$db" 2>"$errfile"); then
    entry="{\"database\":$(json_str "$db"),\"ok\":true,$fields}"
    log "drill $db: ok ($fields)"
  else
    msg=$(tr '\n' ' ' <"$errfile")
    ok=false
    [ -n "$first_error" ] || first_error="$db: $msg"
    entry="{\"database\":$(json_str "$db"),\"ok\":false${fields:+,$fields},\"error\":$(json_str "$msg")}"
    log "drill $db: FAILED: $msg"
  fi
  rm -f "$errfile"
  fields=""
  entries+=("$entry")
  [ -n "$top" ] || top=$entry
done

finished_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
duration=$(($(now_ms) - started_ms))
# Top level: ok, timing, the first database's fields, the first error, then every database.
top_fields=${top#\{}
top_fields=${top_fields%\}}
top_fields=$(sed -E 's/^"database":"[^"]*","ok":(true|false),?//; s/,?"error":".*$//' <<<"$top_fields")
json="{\"ok\":$ok,\"startedAt\":\"$started_at\",\"finishedAt\":\"$finished_at\",\"durationMs\":$duration"
[ -z "$top_fields" ] || json+=",$top_fields"
[ -z "$first_error" ] || json+=",\"error\":$(json_str "$first_error")"
json+=",\"databases\":[$(IFS=,; echo "${entries[*]}")]}"

mkdir -p "$(dirname "$LG_DRILL_RESULT")"
printf '%s\n' "$json" >"$LG_DRILL_RESULT.tmp"
chmod 0644 "$LG_DRILL_RESULT.tmp"
mv "$LG_DRILL_RESULT.tmp" "$LG_DRILL_RESULT"
if [ "$ok" = true ]; then
  log "restore drill passed in ${duration} ms; result in $LG_DRILL_RESULT"
else
  log "RESTORE DRILL FAILED: $first_error (result in $LG_DRILL_RESULT)"
  exit 1
fi
