#!/usr/bin/env bash
# Copies the backup directory off the host with rsync over SSH when LG_OFFSITE_TARGET is set
# (root's SSH key must be authorised there). No --delete: a compromised or wiped host must not be
# able to delete the off-site copies; the target applies its own retention.
# Needs: LG_BACKUP_DIR LG_OFFSITE_TARGET LG_LOCK_FILE (+ lib-backup.sh).
set -euo pipefail
if [ -z "${LG_OFFSITE_TARGET:-}" ]; then
  log "no off-site target configured; skipping"
  exit 0
fi
lock_backups
rsync -a --partial --exclude='*.partial*' \
  -e 'ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=30' \
  "$LG_BACKUP_DIR/" "$LG_OFFSITE_TARGET/"
log "copied $LG_BACKUP_DIR to $LG_OFFSITE_TARGET"
