#!/usr/bin/env bash
# Step "fail2ban": bans IPs that fail SSH authentication repeatedly.
# Log source: Debian 12 has no syslog daemon by default (journald only) and the local VPS
# container has no journald either, so fail2ban's default sshd jail finds no log and does not
# start. rsyslog writes sshd's auth messages to /var/log/auth.log on both, and the jail reads that
# file with the `polling` backend (no inotify/systemd dependency).
# The settings live in /etc/fail2ban/jail.local, the file fail2ban reserves for local changes
# (package upgrades replace jail.conf, never jail.local; lynis DEB-0880).
# Needs: LG_SSHD_PORT
set -euo pipefail
: "${LG_SSHD_PORT:?}"
ensure_pkgs rsyslog fail2ban iptables
service_up rsyslog rsyslogd
[ -f /var/log/auth.log ] || install -m 0640 -o root -g adm /dev/null /var/log/auth.log

changed=0
if [ -f /etc/fail2ban/jail.d/launchgate.local ]; then # where earlier versions wrote it
  rm -f /etc/fail2ban/jail.d/launchgate.local
  log "removed /etc/fail2ban/jail.d/launchgate.local (moved to jail.local)"
  changed=1
fi
install_file /etc/fail2ban/jail.local 0644 root:root <<JAIL && changed=1
# managed by launchgate (HardenedHost step "fail2ban")
[DEFAULT]
bantime  = 1h
findtime = 10m
maxretry = 5
banaction = iptables-multiport
backend  = polling

[sshd]
enabled  = true
port     = $LG_SSHD_PORT
logpath  = /var/log/auth.log
backend  = polling
JAIL

fail2ban-client -t >/dev/null
if fail2ban-client ping >/dev/null 2>&1; then
  if [ "$changed" = 1 ]; then
    fail2ban-client reload >/dev/null
    log "fail2ban reloaded"
  fi
else
  service_up fail2ban
fi
wait_for 30 fail2ban-client status sshd
