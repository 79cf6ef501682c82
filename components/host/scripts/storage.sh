#!/usr/bin/env bash
# Step "storage": persistent app storage (seed 001 §8.1.5) with explicit owner and mode; the
# root is not world-readable because it holds user uploads (CVs) and backups.
# Needs: LG_DEPLOY_USER LG_STORAGE_PATH LG_STORAGE_DIRS (lines "relative/path MODE", "." = root)
set -euo pipefail
: "${LG_DEPLOY_USER:?}" "${LG_STORAGE_PATH:?}" "${LG_STORAGE_DIRS:?}"
while read -r rel mode; do
  [ -n "$rel" ] || continue
  case "$rel" in /* | *..*) log "storage dir must be relative without ..: $rel"; exit 1 ;; esac
  if [ "$rel" = "." ]; then dir=$LG_STORAGE_PATH; else dir=$LG_STORAGE_PATH/$rel; fi
  ensure_dir "$dir" "$mode" "$LG_DEPLOY_USER:$LG_DEPLOY_USER"
done <<<"$LG_STORAGE_DIRS"
