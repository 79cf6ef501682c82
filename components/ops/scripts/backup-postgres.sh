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
# exited 0 (the table of contents alone, `pg_restore -l`, reads fine on a truncated file). Then
# byte for byte: the dump and the globals are hashed (sha256) inside the server container as they
# leave pg_dump/pg_dumpall, and the files on disk must have the same hash — the table of contents
# (every object's definition) is stored uncompressed, so a same-size change there reads back
# through pg_restore without an error. The hashes go beside the dump (<dump>.sha256, sha256sum's
# format), so the restore drill can tell a dump that changed on disk since. Only a verified dump
# gets its final name.
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
cleanup() { if [ -n "$partial" ]; then rm -f "$partial" "$partial.counts" "$partial.globals.sql" "$partial.sha256"; fi; }
trap cleanup EXIT

# Run in the server container by `sh -c` with the program as $0: the program's stdout goes out
# unchanged and through sha256sum, whose line goes to stderr; exits with the program's status.
# shellcheck disable=SC2016 # expanded by sh in the container
HASHED='exec 3>&1
rc=$( { { "$0" "$@"; echo $? >&4; } | tee /dev/fd/3 | sha256sum >&2; } 4>&1 )
exit "${rc:-1}"'
SHA_LINE='^[0-9a-f]{64}  -$'

# from_server OUT PROGRAM [ARGS...]: runs PROGRAM in the server container with its stdout in OUT;
# prints the sha256 of what PROGRAM wrote, as computed in the container (nothing when none came:
# same_bytes then refuses, after the read-back has said what it found). Other stderr passes on.
from_server() {
  local out=$1 errf rc=0 sha
  shift
  errf=$(mktemp)
  docker exec "$PG_CONTAINER" sh -c "$HASHED" "$@" >"$out" 2>"$errf" || rc=$?
  sha=$(grep -E "$SHA_LINE" "$errf" | tail -1 | cut -c1-64 || true)
  grep -vE "$SHA_LINE" "$errf" >&2 || true
  rm -f "$errf"
  if [ "$rc" -ne 0 ]; then
    log "$1 failed (exit $rc)"
    return "$rc"
  fi
  printf '%s\n' "$sha"
}

# same_bytes FILE SHA WHAT: fails (nothing kept) unless FILE on disk hashes to SHA.
same_bytes() {
  local got
  if [ -z "$2" ]; then
    log "verification failed: the server container gave no sha256 of the $3 (the stream was cut short, or the image lacks sh, tee or sha256sum); nothing kept"
    exit 1
  fi
  got=$(sha256sum <"$1" | cut -c1-64)
  if [ "$got" != "$2" ]; then
    log "verification failed: the $3 on disk (sha256 $got) is not what the server wrote (sha256 $2); nothing kept"
    exit 1
  fi
}

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
  dump_sha=$(from_server "$partial" pg_dump -U "$LG_PG_USER" -Fc "${compress[@]}" --snapshot="$snapshot" -d "$db")
  globals_sha=$(from_server "$partial.globals.sql" pg_dumpall -U "$LG_PG_USER" --globals-only)
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
  same_bytes "$partial" "$dump_sha" "dump of $db"
  same_bytes "$partial.globals.sql" "$globals_sha" "globals (pg_dumpall --globals-only) of $db"
  printf '%s  %s\n%s  %s\n' "$dump_sha" "${final##*/}" "$globals_sha" "${final##*/}.globals.sql" >"$partial.sha256"
  toc=$(docker exec -i "$PG_CONTAINER" pg_restore -l <"$partial")
  entries=$(grep -c ' TABLE DATA ' <<<"$toc" || true)
  mv "$partial.globals.sql" "$final.globals.sql"
  mv "$partial.counts" "$final.counts"
  mv "$partial.sha256" "$final.sha256"
  mv "$partial" "$final"
  partial=""
  size=$(stat -c %s "$final")
  log "dumped $db ($mode) to $final: $size bytes, $entries tables with data, $(($(now_ms) - start)) ms, globals and sha256 beside it, verified by reading it back whole and byte for byte"
done
