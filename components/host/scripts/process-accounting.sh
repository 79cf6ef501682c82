#!/usr/bin/env bash
# Step "process-accounting": who ran what and when, independent of shell history (lynis
# ACCT-9622, CIS 4.1 companion): BSD process accounting (acct: `lastcomm`, `sa`) and sysstat's
# periodic resource history (`sar`; lynis ACCT-9626) for after-the-fact investigation.
# In a container, process accounting covers the container's own processes (acct(2) is per PID
# namespace).
set -euo pipefail
ensure_pkgs acct sysstat
pacct=/var/log/account/pacct
# Accounting is on when a finished process adds a record (the init script's `status` reads a
# lock file that does not say whether the kernel accounts).
accounting_on() {
  local before
  before=$(stat -c %s "$pacct" 2>/dev/null || echo 0)
  /bin/true
  sleep 0.2
  [ "$(stat -c %s "$pacct" 2>/dev/null || echo 0)" -gt "$before" ]
}
if have_systemd; then
  service_up acct
elif ! accounting_on; then
  log "starting acct"
  accton "$pacct" >/dev/null
fi
accounting_on || { log "process accounting does not record into $pacct"; exit 1; }
if ! grep -qx 'ENABLED="true"' /etc/default/sysstat; then
  sed -i -E 's/^ENABLED=.*/ENABLED="true"/' /etc/default/sysstat
  grep -qx 'ENABLED="true"' /etc/default/sysstat || echo 'ENABLED="true"' >>/etc/default/sysstat
  log "sysstat collection enabled"
fi
service_up sysstat
