#!/usr/bin/env bash
# Runs inside the debootstrapped rootfs (chroot) of the disposable "VPS" image: makes it look
# like a freshly provisioned Debian VPS (full apt sources incl. security, sshd accepting root by
# key only, no extra software) so HardenedHost's scripts do all the real work over SSH.
set -euo pipefail
cat >/etc/apt/sources.list <<'SOURCES'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# Root's authorized_keys is injected at container creation (docker upload / docker cp).
install -d -m 0700 /root/.ssh
# A VPS image ships without host keys; they are generated per container at start (entrypoint).
rm -f /etc/ssh/ssh_host_*
install -d -m 0755 /run/sshd
cat >/usr/local/sbin/vps-init <<'INIT'
#!/bin/sh
# PID 1 of the disposable VPS, standing in for systemd at boot: fresh host keys, then whatever
# the hardening steps installed comes back after a container restart (sysctls, firewall rules,
# syslog, fail2ban, process accounting, dockerd), then sshd in the foreground (logging to
# syslog). A service that fails to start never keeps sshd from starting.
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
# A VM's root may set its own network stack's sysctls; Docker mounts /proc/sys read-only. Make
# only this container's network-namespace keys (net.*) writable, as on a VM; kernel-global keys
# (kernel.*, fs.*, vm.*) stay read-only: they belong to the machine running the container.
if mount --bind /proc/sys/net /proc/sys/net 2>/dev/null; then
  mount -o remount,bind,rw /proc/sys/net 2>/dev/null || echo "vps-init: /proc/sys/net stays read-only" >&2
fi
# systemd-sysctl's job at boot: apply /etc/sysctl.d (global keys fail here, as said above).
sysctl -q --system >/dev/null 2>&1 || true
if [ -x /lib/ufw/ufw-init ]; then /lib/ufw/ufw-init start >/dev/null 2>&1 || echo "vps-init: ufw failed" >&2; fi
if [ -x /usr/sbin/rsyslogd ]; then rsyslogd || echo "vps-init: rsyslogd failed" >&2; fi
if [ -x /etc/init.d/fail2ban ]; then service fail2ban start >/dev/null 2>&1 || echo "vps-init: fail2ban failed" >&2; fi
if [ -x /etc/init.d/acct ]; then service acct start >/dev/null 2>&1 || echo "vps-init: acct failed" >&2; fi
if [ -x /usr/sbin/dockerd ]; then setsid dockerd </dev/null >>/var/log/dockerd.log 2>&1 & fi
exec /usr/sbin/sshd -D
INIT
chmod 0755 /usr/local/sbin/vps-init
