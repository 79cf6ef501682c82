#!/usr/bin/env bash
# Step "sysctl": kernel hardening (dev-sec os-baseline sysctl-*, CIS 3.2/3.3 network parameters,
# lynis KRNL-6000 scan profile): no redirects or source routing, reverse-path filtering, SYN
# cookies, martian logging; ASLR, pointer/dmesg/perf/BPF restrictions, no line-discipline
# autoloading, protected links/FIFOs/regular files in sticky directories, core files named by PID.
# On a host that runs Redis (LG_RUNS_REDIS=1): vm.overcommit_memory = 1, which Redis needs to
# fork for RDB snapshots and AOF rewrites (it warns at start otherwise).
#
# Left on purpose: net.ipv4.ip_forward / conf.all.forwarding = 1 (Docker's bridge networks route
# through the host; lynis expects 0), kernel.sysrq (the provider's console may need it).
#
# Applied key by key, only when the running value differs. In a container (the local VPS) the
# kernel-global keys (kernel.*, fs.*, dev.*, vm.*) belong to the machine running it and are
# read-only; the container's own network namespace keys (net.*) are applied. The file is
# installed either way and takes effect on a real host; the step says which keys it could not
# apply instead of failing. On a real host any key that cannot be applied fails the step.
# Optional: LG_RUNS_REDIS (1 = add vm.overcommit_memory = 1)
set -euo pipefail
conf=/etc/sysctl.d/60-launchgate-hardening.conf
{
  cat <<'SYSCTL'
# managed by launchgate (HardenedHost step "sysctl")
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.default.rp_filter = 1
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.default.secure_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv4.conf.all.log_martians = 1
net.ipv4.conf.default.log_martians = 1
net.ipv4.icmp_echo_ignore_broadcasts = 1
net.ipv4.icmp_ignore_bogus_error_responses = 1
net.ipv4.tcp_syncookies = 1
net.ipv4.tcp_rfc1337 = 1
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_source_route = 0
net.ipv6.conf.default.accept_source_route = 0
net.ipv6.conf.all.accept_ra = 0
net.ipv6.conf.default.accept_ra = 0
kernel.randomize_va_space = 2
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
kernel.yama.ptrace_scope = 1
kernel.perf_event_paranoid = 3
kernel.unprivileged_bpf_disabled = 1
kernel.core_uses_pid = 1
kernel.ctrl-alt-del = 0
dev.tty.ldisc_autoload = 0
fs.suid_dumpable = 0
fs.protected_hardlinks = 1
fs.protected_symlinks = 1
fs.protected_fifos = 2
fs.protected_regular = 2
SYSCTL
  if [ "${LG_RUNS_REDIS:-0}" = 1 ]; then
    printf '# Redis forks for RDB/AOF rewrite: allow the copy-on-write overcommit it needs\nvm.overcommit_memory = 1\n'
  fi
} | install_file "$conf" 0644 root:root || true
ensure_pkgs procps

# Declared vs. running values in one `sysctl` call; write only the keys that differ.
keys=$(awk -F' = ' '/^[a-z]/ { print $1 }' "$conf")
# shellcheck disable=SC2086 # one argument per key
differing=$(awk -F' = ' 'NR == FNR { if ($0 ~ /^[a-z]/) want[$1] = $2; next }
  { got[$1] = $2 } END { for (k in want) if (want[k] != got[k]) print k "=" want[k] "=" ((k in got) ? got[k] : "unknown") }' \
  "$conf" <(sysctl -e $keys 2>/dev/null | sed 's/\t/ /g') | sort)
unapplied=()
while IFS='=' read -r key value current; do
  [ -n "$key" ] || continue
  if sysctl -q -w "$key=$value" >/dev/null 2>&1; then
    log "set $key = $value (was $current)"
  else
    unapplied+=("$key")
  fi
done <<<"$differing"

if [ "${#unapplied[@]}" -gt 0 ]; then
  if in_container; then
    log "container: /proc/sys is read-only here for ${unapplied[*]} (kernel-global); $conf installed, applies on a real host"
  else
    log "could not apply: ${unapplied[*]}"
    exit 1
  fi
fi
