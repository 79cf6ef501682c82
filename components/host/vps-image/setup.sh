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
# PID 1 of the disposable VPS: fresh host keys, then sshd in the foreground (logging to syslog,
# which the fail2ban step makes real with rsyslog).
set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
exec /usr/sbin/sshd -D
INIT
chmod 0755 /usr/local/sbin/vps-init
