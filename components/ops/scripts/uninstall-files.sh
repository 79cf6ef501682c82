#!/usr/bin/env bash
# Undoes install-files.sh when the component is removed: stops and disables the timers, removes
# the units and scripts it wrote. Data (backups, drill results, alert state) stays on the host.
#   LG_TIMERS  timers to stop;  LG_PATHS  files to remove.
set -euo pipefail
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi
for t in ${LG_TIMERS:-}; do
  "${SUDO[@]}" systemctl disable --now "$t" 2>/dev/null || true
  # Hosts without systemctl (install-files.sh linked the timer itself).
  "${SUDO[@]}" rm -f "/etc/systemd/system/timers.target.wants/$t"
done
for p in ${LG_PATHS:-}; do
  "${SUDO[@]}" rm -f -- "$p"
done
"${SUDO[@]}" systemctl daemon-reload || true
echo "removed: ${LG_TIMERS:-} (data kept)"
