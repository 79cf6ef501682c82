#!/usr/bin/env bash
# Step "timezone": one clock for logs, cron schedules (backups at 02:00) and alerts.
# Written as files rather than `timedatectl` so it works without systemd (local VPS) too.
# Needs: LG_TIMEZONE (e.g. UTC, Europe/Berlin)
set -euo pipefail
: "${LG_TIMEZONE:?}"
ensure_pkgs tzdata
zone=/usr/share/zoneinfo/$LG_TIMEZONE
[ -f "$zone" ] || { log "unknown timezone $LG_TIMEZONE (no $zone)"; exit 1; }
if [ "$(readlink /etc/localtime || true)" != "$zone" ]; then
  ln -sfn "$zone" /etc/localtime
  log "timezone set to $LG_TIMEZONE"
fi
printf '%s\n' "$LG_TIMEZONE" | install_file /etc/timezone 0644 root:root || true
