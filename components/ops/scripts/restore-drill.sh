#!/usr/bin/env bash
# Restore drill: for each database, restore its newest dump into a scratch database, compare
# per-table row counts with the source, drop the scratch database, and record the result in
# LG_DRILL_RESULT (JSON, written atomically) — the evidence the "backups tested" gate reads:
#   {ok, startedAt, finishedAt, durationMs, dump, sizeBytes, tables, rowCounts, error?, databases[]}
# (top-level dump/sizeBytes/tables/rowCounts describe the first database; `databases` has all).
# "Source" means the source database in the dump's own snapshot (<dump>.counts, written by
# backup-postgres.sh), so writes after the dump cannot fail the drill; a dump without that file
# is compared with the live source. Any failure — unreadable archive, restore error, missing or
# mismatching table — records ok:false and exits non-zero, so the timer unit shows failed.
# Needs: LG_BACKUP_DIR LG_DRILL_RESULT LG_PG_CONTAINER LG_PG_USER LG_DATABASES LG_LOCK_FILE (+ lib-backup.sh).
set -euo pipefail
lock_backups

started_ms=$(now_ms)
started_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
scratch=""
drop_scratch() {
  if [ -n "$scratch" ]; then
    lg_psql postgres -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" >/dev/null 2>&1 || log "could not drop $scratch"
    scratch=""
  fi
}

ok=true
first_error=""
entries=()
top=""

# drill_one DB: prints the JSON fields of DB's entry; returns non-zero with the reason on stderr.
# Runs in a command substitution, where `set -e` does not apply: every step is checked, and the
# subshell's own EXIT trap drops the scratch database on every path.
drill_one() {
  local db=$1 dump size expected actual toc tables diffs err
  trap drop_scratch EXIT
  dump=$(newest "$LG_BACKUP_DIR/postgres/$db" '*.dump')
  if [ -z "$dump" ]; then
    echo "no dump of $db under $LG_BACKUP_DIR/postgres/$db" >&2
    return 1
  fi
  size=$(stat -c %s "$dump")
  printf '"dump":%s,"sizeBytes":%s' "$(json_str "$dump")" "$size"
  if ! toc=$(docker exec -i "$LG_PG_CONTAINER" pg_restore -l <"$dump" 2>&1); then
    echo "pg_restore -l cannot read $dump: $(tail -3 <<<"$toc")" >&2
    return 1
  fi
  scratch="lg_drill_${db}_$(date -u +%Y%m%d%H%M%S)_$$"
  if ! err=$(lg_psql postgres -c "CREATE DATABASE \"$scratch\"" 2>&1); then
    scratch=""
    echo "cannot create scratch database: $err" >&2
    return 1
  fi
  if ! err=$(docker exec -i "$LG_PG_CONTAINER" pg_restore -U "$LG_PG_USER" -d "$scratch" \
    --no-owner --no-privileges --exit-on-error <"$dump" 2>&1); then
    echo "pg_restore of $dump failed: $(tail -5 <<<"$err")" >&2
    return 1
  fi
  if ! actual=$(lg_psql "$scratch" -c "$COUNT_ROWS_SQL" 2>&1); then
    echo "cannot count rows in $scratch: $actual" >&2
    return 1
  fi
  if [ -f "$dump.counts" ]; then
    expected=$(cat "$dump.counts")
  elif ! expected=$(lg_psql "$db" -c "$COUNT_ROWS_SQL" 2>&1); then
    echo "cannot count rows in $db: $expected" >&2
    return 1
  fi
  drop_scratch
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
