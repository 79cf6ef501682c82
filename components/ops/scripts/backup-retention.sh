#!/usr/bin/env bash
# Deletes backups older than LG_RETENTION_DAYS and keeps the rest. The newest backup of each kind
# (per database, Redis, storage) is always kept, so a backup outage longer than the retention
# window never leaves the host with nothing. Leftover *.partial files older than a day go too.
# Needs: LG_BACKUP_DIR LG_RETENTION_DAYS LG_LOCK_FILE (+ lib-backup.sh).
set -euo pipefail
lock_backups

days=${LG_RETENTION_DAYS:?}
[ "$days" -ge 1 ] || { echo "LG_RETENTION_DAYS must be >= 1" >&2; exit 64; }
deleted=0 kept=0

prune() { # prune DIR PATTERN
  local dir=$1 pattern=$2 newest_file f
  [ -d "$dir" ] || return 0
  newest_file=$(newest "$dir" "$pattern")
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    if [ "$f" = "$newest_file" ]; then
      log "keeping $f although older than $days days: newest of its kind"
      continue
    fi
    rm -f -- "$f" "$f.counts" "$f.globals.sql" "$f.sha256"
    log "deleted $f (older than $days days)"
    deleted=$((deleted + 1))
  done < <(find "$dir" -maxdepth 1 -type f -name "$pattern" -mmin "+$((days * 1440))")
  kept=$((kept + $(find "$dir" -maxdepth 1 -type f -name "$pattern" | wc -l)))
}

for dir in "$LG_BACKUP_DIR"/postgres/*/; do
  prune "${dir%/}" '*.dump'
done
prune "$LG_BACKUP_DIR/redis" '*.rdb'
prune "$LG_BACKUP_DIR/storage" '*.tar.gz'
find "$LG_BACKUP_DIR" -type f -name '*.partial*' -mmin +1440 -delete
log "retention ${days}d: deleted $deleted, kept $kept"
