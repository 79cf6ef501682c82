#!/usr/bin/env bash
# Runs one verified dump of every database now, with the same installed script the timers use,
# labelled with the release it protects; the migration job depends on this command.
#   LG_LIB_DIR  where install-files.sh put the scripts;  LG_RELEASE_ID  release label.
set -euo pipefail
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi
label=$(printf '%s' "${LG_RELEASE_ID:-}" | tr -c 'A-Za-z0-9._-' '-' | cut -c1-40)
"${SUDO[@]}" "$LG_LIB_DIR/backup-postgres.sh" pre-migration "$label"
