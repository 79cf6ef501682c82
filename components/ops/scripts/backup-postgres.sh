#!/usr/bin/env bash
# One verified `pg_dump -Fc` per database, with the cluster's globals: backup-postgres.sh MODE [LABEL]
#   MODE: full (daily) | incremental (every N hours) | pre-migration (before a release migrates).
# "incremental" is also a complete logical dump: pg_dump has no incremental form, and WAL
# archiving would need archive_command inside the Postgres container; a dump every N hours gives
# the same recovery point for a database of this size, and every dump restores on its own.
# Each dump is taken in an exported snapshot; the exact per-table row counts of that same
# snapshot are stored beside it (<dump>.counts) so the restore drill can compare like with like
# on a live database. Beside each dump, <dump>.globals.sql holds `pg_dumpall --globals-only`
# (roles with their password hashes, role memberships, tablespaces): a restore that keeps owners
# and grants needs those roles first, and a new cluster has none of them.
# Verification reads the whole archive back from disk: `pg_restore -f /dev/null` decompresses
# every data block, so a truncated or corrupted dump fails here, at backup time, even if pg_dump
# exited 0 (the table of contents alone, `pg_restore -l`, reads fine on a truncated file). Only a
# verified dump gets its final name.
# Compression: the best algorithm the server's pg_dump has. PostgreSQL 16+ has lz4 and zstd
# (`-Z zstd:3`: smaller than gzip at a fraction of its CPU); 15 and older have only gzip, used at
# level 1: most of level 6's size reduction for far less CPU (level 6 made the dump 4× slower
# than a plain one on the 2-core test machine, issue 12).
# Format: custom (-Fc), one stream through `docker exec` to the host. Directory format with
# parallel jobs (-Fd -j) would need the dump directory inside the server container, whose root
# is read-only and whose only volume is PGDATA; see docs in Backups.ts.
# Needs: LG_BACKUP_DIR LG_PG_CONTAINER LG_PG_USER LG_DATABASES LG_LOCK_FILE LG_PLACEMENT
#   (+ lib-workload.sh, lib-backup.sh).
set -euo pipefail
mode=${1:?usage: backup-postgres.sh full|incremental|pre-migration [label]}
label=${2:-}
case $mode in full | incremental | pre-migration) ;; *) echo "unknown mode $mode" >&2; exit 64 ;; esac

lock_backups
resolve_postgres
umask 077

partial=""
cleanup() { if [ -n "$partial" ]; then rm -f "$partial" "$partial.counts" "$partial.globals.sql"; fi; }
trap cleanup EXIT

major=$(docker exec "$PG_CONTAINER" pg_dump --version | grep -oE '[0-9]+' | head -1)
if [ "${major:-0}" -ge 16 ]; then compress=(-Z zstd:3); else compress=(-Z 1); fi

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
  docker exec "$PG_CONTAINER" pg_dump -U "$LG_PG_USER" -Fc "${compress[@]}" --snapshot="$snapshot" -d "$db" >"$partial"
  docker exec "$PG_CONTAINER" pg_dumpall -U "$LG_PG_USER" --globals-only >"$partial.globals.sql"
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

  # Verify before it counts: every block of the archive must read back and decompress, and the
  # globals file must be complete (pg_dumpall ends it with a fixed comment).
  if ! err=$(docker exec -i "$PG_CONTAINER" pg_restore -f /dev/null <"$partial" 2>&1) || [ -n "$err" ]; then
    log "verification failed: pg_restore could not read the whole dump of $db back ($(tail -3 <<<"$err" | tr '\n' ' ')); nothing kept"
    exit 1
  fi
  if ! tail -5 "$partial.globals.sql" | grep -q 'PostgreSQL database cluster dump complete'; then
    log "verification failed: the globals (pg_dumpall --globals-only) of $db are incomplete; nothing kept"
    exit 1
  fi
  toc=$(docker exec -i "$PG_CONTAINER" pg_restore -l <"$partial")
  entries=$(grep -c ' TABLE DATA ' <<<"$toc" || true)
  mv "$partial.globals.sql" "$final.globals.sql"
  mv "$partial.counts" "$final.counts"
  mv "$partial" "$final"
  partial=""
  size=$(stat -c %s "$final")
  log "dumped $db ($mode) to $final: $size bytes, $entries tables with data, $(($(now_ms) - start)) ms, globals beside it, verified by reading it back whole"
done
