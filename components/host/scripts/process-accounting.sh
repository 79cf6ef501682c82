#!/usr/bin/env bash
# Step "process-accounting": who ran what and when, independent of shell history (lynis
# ACCT-9622, CIS 4.1 companion): BSD process accounting (acct: `lastcomm`, `sa`) and sysstat's
# periodic resource history (`sar`; lynis ACCT-9626) for after-the-fact investigation.
# In a container, process accounting covers the container's own processes (acct(2) is per PID
# namespace).
set -euo pipefail
ensure_pkgs acct sysstat
if have_systemd; then
  service_up acct
elif ! service acct status 2>/dev/null | grep -q 'is enabled'; then
  # Debian's init script exits 0 from `status` either way: read what it says.
  log "starting acct"
  service acct start >/dev/null
fi
if ! grep -qx 'ENABLED="true"' /etc/default/sysstat; then
  sed -i -E 's/^ENABLED=.*/ENABLED="true"/' /etc/default/sysstat
  grep -qx 'ENABLED="true"' /etc/default/sysstat || echo 'ENABLED="true"' >>/etc/default/sysstat
  log "sysstat collection enabled"
fi
service_up sysstat
