#!/usr/bin/env bash
# One verified `pg_dump -Fc` per database: backup-postgres.sh MODE [LABEL]
#   MODE: full (daily) | incremental (every N hours) | pre-migration (before a release migrates).
# "incremental" is also a complete logical dump: pg_dump has no incremental form, and WAL
# archiving would need archive_command inside the Postgres container; a dump every N hours gives
# the same recovery point for a database of this size, and every dump restores on its own.
# Each dump is taken in an exported snapshot; the exact per-table row counts of that same
# snapshot are stored beside it (<dump>.counts) so the restore drill can compare like with like
# on a live database. A dump only gets its final name after `pg_restore -l` reads it back.
# Needs: LG_BACKUP_DIR LG_PG_CONTAINER LG_PG_USER LG_DATABASES LG_LOCK_FILE (+ lib-backup.sh).
set -euo pipefail
mode=${1:?usage: backup-postgres.sh full|incremental|pre-migration [label]}
label=${2:-}
case $mode in full | incremental | pre-migration) ;; *) echo "unknown mode $mode" >&2; exit 64 ;; esac

lock_backups
umask 077

partial=""
cleanup() { if [ -n "$partial" ]; then rm -f "$partial" "$partial.counts"; fi; }
trap cleanup EXIT

for db in $LG_DATABASES; do
  dir="$LG_BACKUP_DIR/postgres/$db"
  mkdir -p "$dir"
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  final="$dir/$db-$ts-$mode${label:+-$label}.dump"
  partial="$final.partial"
  start=$(now_ms)

  # A psql session holds a REPEATABLE READ snapshot open while pg_dump dumps exactly that snapshot.
  coproc PSQL { lg_psql "$db"; }
  psql_in=${PSQL[1]}
  psql_out=${PSQL[0]}
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();" >&"$psql_in"
  if ! read -r -t 60 snapshot <&"$psql_out" || [ -z "$snapshot" ]; then
    log "could not open a snapshot in $db"
    exit 1
  fi
  docker exec "$LG_PG_CONTAINER" pg_dump -U "$LG_PG_USER" -Fc --snapshot="$snapshot" -d "$db" >"$partial"
  printf '%s\nSELECT %s;\n' "$COUNT_ROWS_SQL" "'__end__'" >&"$psql_in"
  : >"$partial.counts"
  while read -r -t 600 line <&"$psql_out"; do
    [ "$line" = "__end__" ] && break
    printf '%s\n' "$line" >>"$partial.counts"
  done
  [ "${line:-}" = "__end__" ] || { log "row counts for $db did not finish"; exit 1; }
  echo "COMMIT;" >&"$psql_in"
  eval "exec $psql_in>&-"
  wait "$PSQL_PID"

  # Verify before it counts: the archive's table of contents must read back.
  if ! toc=$(docker exec -i "$LG_PG_CONTAINER" pg_restore -l <"$partial"); then
    log "pg_restore -l rejected the dump of $db; nothing kept"
    exit 1
  fi
  entries=$(grep -c ' TABLE DATA ' <<<"$toc" || true)
  mv "$partial.counts" "$final.counts"
  mv "$partial" "$final"
  partial=""
  size=$(stat -c %s "$final")
  log "dumped $db ($mode) to $final: $size bytes, $entries tables with data, $(($(now_ms) - start)) ms, verified with pg_restore -l"
done
