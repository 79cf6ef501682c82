#!/usr/bin/env bash
# Step "unattended-upgrades": security updates install themselves daily (dev-sec os-baseline
# package hygiene). No automatic reboot: a reboot of the only VPS is an outage, so it is left to
# a maintenance window (the file /var/run/reboot-required signals it).
set -euo pipefail
# apt-show-versions: which installed packages have pending updates, and from where (patch
# management, lynis PKGS-7394).
ensure_pkgs unattended-upgrades apt-listchanges apt-show-versions
install_file /etc/apt/apt.conf.d/20auto-upgrades 0644 root:root <<'AUTO' || true
// managed by launchgate (HardenedHost step "unattended-upgrades")
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
AUTO
# Security updates only. apt merges list options across files, so Debian's own
# 50unattended-upgrades (which also allows `label=Debian`: every stable point-release update)
# would still apply: `#clear` empties both origin lists first (this file sorts after 50).
install_file /etc/apt/apt.conf.d/52launchgate-unattended-upgrades 0644 root:root <<'UU' || true
// managed by launchgate (HardenedHost step "unattended-upgrades"): security updates only
#clear Unattended-Upgrade::Origins-Pattern;
#clear Unattended-Upgrade::Allowed-Origins;
Unattended-Upgrade::Origins-Pattern {
        "origin=Debian,codename=${distro_codename},label=Debian-Security";
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
};
Unattended-Upgrade::Remove-Unused-Kernel-Packages "true";
Unattended-Upgrade::Remove-Unused-Dependencies "true";
Unattended-Upgrade::Automatic-Reboot "false";
Unattended-Upgrade::SyslogEnable "true";
UU
