#!/usr/bin/env bash
# Step "firewall": UFW default-deny inbound, allow outbound, open only the public ports; SSH only
# from the configured source ranges. Never locks out SSH: the SSH allow rules are added first,
# and UFW is enabled only after they exist. Rules not in the desired set are removed after the
# desired ones are in place (so a changed port list converges), SSH rules last of all.
# Note: ports Docker publishes bypass UFW (Docker's own iptables chains); launchgate publishes
# only the proxy's 80/443, data stores publish nothing (a policy checks this).
# Needs: LG_SSHD_PORT LG_SSH_ALLOW_FROM (space-separated CIDRs) LG_PUBLIC_TCP_PORTS (space-separated)
set -euo pipefail
: "${LG_SSHD_PORT:?}" "${LG_SSH_ALLOW_FROM:?}" "${LG_PUBLIC_TCP_PORTS:?}"
ensure_pkgs ufw iptables

# Desired rules in the form `ufw show added` prints them.
desired=()
for cidr in $LG_SSH_ALLOW_FROM; do
  if [ "$cidr" = "0.0.0.0/0" ]; then
    desired+=("allow $LG_SSHD_PORT/tcp")
  else
    desired+=("allow from $cidr to any port $LG_SSHD_PORT proto tcp")
  fi
done
for port in $LG_PUBLIC_TCP_PORTS; do
  [ "$port" = "$LG_SSHD_PORT" ] && continue # SSH is governed by LG_SSH_ALLOW_FROM
  desired+=("allow $port/tcp")
done

for rule in "${desired[@]}"; do
  # shellcheck disable=SC2086 # a rule is several ufw words
  ufw $rule >/dev/null
done

# Remove what is not desired (e.g. a port dropped from config).
while IFS= read -r line; do
  rule=${line#ufw }
  keep=0
  for d in "${desired[@]}"; do [ "$rule" = "$d" ] && keep=1; done
  if [ "$keep" = 0 ]; then
    # shellcheck disable=SC2086
    ufw delete $rule >/dev/null
    log "removed rule: $rule"
  fi
done < <(ufw show added | grep '^ufw ' || true)

set_default() { # DIRECTION POLICY
  if ! ufw status verbose | grep -q "^Default:.*$2 ($1)"; then
    ufw default "$2" "$1" >/dev/null
    log "default $1: $2"
  fi
}
set_default incoming deny
set_default outgoing allow
set_default routed deny
if ! ufw status | grep -q '^Status: active'; then
  ufw logging low >/dev/null
  ufw --force enable >/dev/null
  log "ufw enabled"
fi
ufw status | grep -q '^Status: active'
