#!/usr/bin/env bash
# Step "auditd": audit trail of identity, privilege, SSH and Docker configuration changes
# (dev-sec os-baseline auditing, CIS 4.1 subset).
# Container: the kernel audit subsystem is not namespaced; a container holding CAP_AUDIT_CONTROL
# would load rules into the *host's* kernel. On the local VPS the package and rules are installed
# but auditd is not started (said in the log); on a real VPS the rules are loaded and auditd runs.
set -euo pipefail
ensure_pkgs auditd
changed=0
install_file /etc/audit/rules.d/50-launchgate.rules 0640 root:root <<'RULES' && changed=1
## managed by launchgate (HardenedHost step "auditd")
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-w /etc/shadow -p wa -k identity
-w /etc/gshadow -p wa -k identity
-w /etc/sudoers -p wa -k privilege
-w /etc/sudoers.d/ -p wa -k privilege
-w /etc/ssh/sshd_config -p wa -k sshd
-w /etc/ssh/sshd_config.d/ -p wa -k sshd
-w /etc/docker/ -p wa -k docker
-w /usr/bin/dockerd -p x -k docker
-w /var/lib/docker -p wa -k docker
-w /etc/ufw/ -p wa -k firewall
-w /var/log/auth.log -p wa -k logs
RULES
if in_container; then
  log "container: auditd not started (kernel audit is host-global); rules installed only"
  exit 0
fi
service_up auditd
if [ "$changed" = 1 ]; then
  augenrules --load >/dev/null
  log "audit rules loaded"
fi
