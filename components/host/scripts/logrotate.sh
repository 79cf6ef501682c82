#!/usr/bin/env bash
# Step "logrotate": 30 days of daily-rotated, compressed app and backup logs (seed 001 §8.3.1).
# copytruncate instead of the runbook's `docker compose restart` postrotate: rotating logs must
# not restart the services. `su` because the log directory belongs to the deploy user (logrotate
# refuses directories writable by non-root otherwise).
# Needs: LG_DEPLOY_USER LG_LOG_DIR LG_LOG_RETENTION_DAYS
set -euo pipefail
: "${LG_DEPLOY_USER:?}" "${LG_LOG_DIR:?}" "${LG_LOG_RETENTION_DAYS:?}"
ensure_pkgs logrotate
ensure_dir "$LG_LOG_DIR" 0750 "$LG_DEPLOY_USER:adm"
ensure_dir "$LG_LOG_DIR/backup" 0750 "$LG_DEPLOY_USER:adm"
install_file /etc/logrotate.d/launchgate 0644 root:root <<CONF || true
# managed by launchgate (HardenedHost step "logrotate")
$LG_LOG_DIR/*.log $LG_LOG_DIR/backup/*.log {
    su $LG_DEPLOY_USER adm
    daily
    rotate $LG_LOG_RETENTION_DAYS
    maxage $LG_LOG_RETENTION_DAYS
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
    create 0640 $LG_DEPLOY_USER adm
}
CONF
logrotate -d /etc/logrotate.d/launchgate >/dev/null 2>&1 || { logrotate -d /etc/logrotate.d/launchgate; exit 1; }
