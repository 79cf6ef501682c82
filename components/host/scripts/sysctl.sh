#!/usr/bin/env bash
# Step "sysctl": kernel network hardening (dev-sec os-baseline sysctl-*): no redirects or source
# routing, reverse-path filtering, SYN cookies, martian logging, plus ASLR and pointer/dmesg
# restrictions. IP forwarding stays ON: Docker's bridge networks need it.
# In a container /proc/sys is read-only: the file is installed (and checked by tests) but cannot
# be applied; the step says so instead of failing. On a real VPS a failed apply fails the step.
set -euo pipefail
conf=/etc/sysctl.d/60-launchgate-hardening.conf
install_file "$conf" 0644 root:root <<'SYSCTL' || true
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
fs.suid_dumpable = 0
fs.protected_hardlinks = 1
fs.protected_symlinks = 1
SYSCTL
ensure_pkgs procps
if ! out=$(sysctl -q -p "$conf" 2>&1); then
  if in_container; then
    log "container: /proc/sys is read-only here; $conf installed, applies on a real host"
  else
    printf '%s\n' "$out" >&2
    exit 1
  fi
fi
