#!/usr/bin/env bash
# Tarball of the storage directory (uploads etc.), without the backups inside it, verified by
# listing it back. tar exit 1 ("file changed as we read it") on a live directory is a warning.
# Needs: LG_STORAGE_PATH LG_BACKUP_DIR LG_LOCK_FILE (+ lib-backup.sh).
set -euo pipefail
lock_backups
umask 077
dir="$LG_BACKUP_DIR/storage"
mkdir -p "$dir"
dest="$dir/storage-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
rel=${LG_BACKUP_DIR#"$LG_STORAGE_PATH"/}
rc=0
tar -C "$LG_STORAGE_PATH" --exclude="./$rel" -czf "$dest.partial" . || rc=$?
if [ "$rc" -gt 1 ]; then rm -f "$dest.partial"; log "tar of $LG_STORAGE_PATH failed ($rc)"; exit 1; fi
[ "$rc" -eq 0 ] || log "warning: files changed while archiving $LG_STORAGE_PATH"
tar -tzf "$dest.partial" >/dev/null
mv "$dest.partial" "$dest"
log "archived $LG_STORAGE_PATH to $dest ($(stat -c %s "$dest") bytes)"
