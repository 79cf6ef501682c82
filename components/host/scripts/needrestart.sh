#!/usr/bin/env bash
# Step "needrestart": after unattended-upgrades replaces a library, the daemons still mapping the
# old copy keep its bug until restarted. needrestart (lynis DEB-0831) runs from apt's hook after
# every upgrade and restarts them automatically (mode `a`), so a security fix is in effect the
# same day, not at the next reboot.
# Not restarted automatically: docker and containerd (restarting the engine is a deliberate act:
# live-restore keeps containers up, but a restart still briefly detaches logging and the API);
# they are listed by `needrestart -b` for the maintenance window, as is a new kernel (kernel
# and microcode hints are off: no automatic reboot of the only VPS, see unattended-upgrades).
set -euo pipefail
ensure_pkgs needrestart
install_file /etc/needrestart/conf.d/50-launchgate.conf 0644 root:root <<'CONF' || true
# managed by launchgate (HardenedHost step "needrestart")
$nrconf{restart} = 'a';
$nrconf{kernelhints} = 0;
$nrconf{ucodehint} = 0;
$nrconf{override_rc}->{qr(^docker)} = 0;
$nrconf{override_rc}->{qr(^containerd)} = 0;
CONF
# The file is Perl: a syntax error would make every apt run print errors. Check it loads.
needrestart -b -r l >/dev/null 2>&1 || { needrestart -b -r l; exit 1; }
