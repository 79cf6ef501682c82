#!/usr/bin/env bash
# Step "baseline": the dev-sec os-baseline items that fit a Debian VPS and are not a step of
# their own: legal login banners (os-baseline / CIS 1.7), permissions of account and cron files
# (os-03..05, CIS 6.1), restrictive default umask (os-05b), no core dumps of setuid programs
# (os-10 companions), unused/legacy filesystems not loadable (os-10).
# Runs last, so the permissions also cover files that earlier steps' packages created (cron's
# /etc/crontab); sshd's `Banner` tolerates /etc/issue.net appearing a few seconds later.
# Needs: LG_BANNER
set -euo pipefail
: "${LG_BANNER:?}"

for f in /etc/issue /etc/issue.net; do
  printf '%s\n' "$LG_BANNER" | install_file "$f" 0644 root:root || true
done
# Debian's dynamic motd leaks the kernel version; keep a static one.
printf '%s\n' "$LG_BANNER" | install_file /etc/motd 0644 root:root || true

# Account databases and cron: readable only by whom needs them.
fix_mode() { # PATH MODE OWNER:GROUP
  [ -e "$1" ] || return 0
  if [ "$(stat -c '%a %U:%G' "$1")" != "$(norm_mode "$2") $3" ]; then
    chown "$3" "$1"
    chmod "$2" "$1"
    log "set $1 to $2 $3"
  fi
}
fix_mode /etc/passwd 0644 root:root
fix_mode /etc/group 0644 root:root
fix_mode /etc/shadow 0640 root:shadow
fix_mode /etc/gshadow 0640 root:shadow
fix_mode /etc/crontab 0600 root:root
for d in /etc/cron.d /etc/cron.daily /etc/cron.hourly /etc/cron.weekly /etc/cron.monthly; do
  fix_mode "$d" 0700 root:root
done
fix_mode /etc/ssh/sshd_config 0600 root:root

# New files are not world-readable by default (login.defs UMASK governs pam_umask on Debian).
if ! grep -qE '^UMASK[[:space:]]+027$' /etc/login.defs; then
  sed -i -E 's/^UMASK[[:space:]].*/UMASK\t\t027/' /etc/login.defs
  grep -qE '^UMASK' /etc/login.defs || printf 'UMASK\t\t027\n' >>/etc/login.defs
  log "login.defs UMASK 027"
fi

# No core dumps (they can hold secrets from memory; lynis KRNL-5820): PAM limits for logins,
# the shell profile for everything started from a shell, systemd-coredump where it is installed.
install_file /etc/security/limits.d/10-launchgate-core.conf 0644 root:root <<'LIMITS' || true
# managed by launchgate: no core dumps (they can hold secrets from memory)
* hard core 0
LIMITS
install_file /etc/profile.d/launchgate-core.sh 0644 root:root <<'PROFILE' || true
# managed by launchgate: no core dumps (they can hold secrets from memory)
ulimit -c 0
PROFILE
install_file /etc/systemd/coredump.conf.d/launchgate.conf 0644 root:root <<'COREDUMP' || true
# managed by launchgate: no core dumps (they can hold secrets from memory)
[Coredump]
Storage=none
ProcessSizeMax=0
COREDUMP

# Compilers and assemblers (binutils comes with needrestart) only for root (lynis HRDN-7222):
# an intruder with a user shell cannot build local exploits on the spot. dpkg-statoverride keeps
# the mode across package upgrades.
for tool in as ld gcc cc c++ g++ clang; do
  bin=$(command -v "$tool" 2>/dev/null) || continue
  real=$(readlink -f "$bin")
  if ! dpkg-statoverride --list "$real" >/dev/null; then
    dpkg-statoverride --update --add root root 0750 "$real"
    log "set $real to 0750 root:root (dpkg-statoverride)"
  fi
done

install_file /etc/modprobe.d/launchgate-filesystems.conf 0644 root:root <<'MODS' || true
# managed by launchgate: filesystems a VPS never mounts cannot be loaded (dev-sec os-10)
install cramfs /bin/true
install freevxfs /bin/true
install jffs2 /bin/true
install hfs /bin/true
install hfsplus /bin/true
install udf /bin/true
MODS
