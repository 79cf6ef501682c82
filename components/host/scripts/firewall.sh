#!/usr/bin/env bash
# Step "firewall": UFW default-deny inbound, allow outbound, open only the public ports; SSH only
# from the configured source ranges, the other public ports only from LG_WEB_ALLOW_FROM (on a
# Cloudflare stack: Cloudflare's published ranges, so the origin answers nobody else).
#
# Never locks out SSH: the SSH allow rules are added first, and UFW is enabled only after they
# exist. Rules not in the desired set are removed after the desired ones are in place (so a
# changed port or source list converges), SSH rules last of all.
#
# Docker-published ports: Docker DNATs them in PREROUTING and accepts them in FORWARD, before
# any UFW INPUT rule, so `ufw deny` alone does not cover them. This step owns Docker's
# `DOCKER-USER` chain (the ufw-docker approach): its rules live in a marked block of UFW's
# /etc/ufw/after.rules, so UFW itself loads them at boot and on every `ufw reload`, and Docker,
# which never flushes DOCKER-USER, keeps them across its restarts. A connection Docker DNATed
# from outside passes only when its original destination port (conntrack `--ctorigdstport`,
# the port the client dialled) is a public port and its source is allowed for it; a
# `ufw route allow` rule would see the container's port after DNAT instead (`-p 8088:80` would
# pass a rule for 80), so the decision is taken on the published port. Established traffic,
# container egress and container-to-container traffic (not DNATed) are left to Docker's rules.
# IPv6: Docker runs without IPv6 (daemon.json), so there is no IPv6 published port to govern.
# Needs: LG_SSHD_PORT LG_SSH_ALLOW_FROM (space-separated CIDRs) LG_PUBLIC_TCP_PORTS (space-separated)
#        LG_WEB_ALLOW_FROM (space-separated CIDRs, IPv4 and/or IPv6; `any` = everyone)
set -euo pipefail
: "${LG_SSHD_PORT:?}" "${LG_SSH_ALLOW_FROM:?}" "${LG_PUBLIC_TCP_PORTS:?}" "${LG_WEB_ALLOW_FROM:?}"
ensure_pkgs ufw iptables

is_any() { [ "$1" = any ] || [ "$1" = 0.0.0.0/0 ]; }

# Desired INPUT rules in the form `ufw show added` prints them.
desired=()
for cidr in $LG_SSH_ALLOW_FROM; do
  if is_any "$cidr"; then
    desired+=("allow $LG_SSHD_PORT/tcp")
  else
    desired+=("allow from $cidr to any port $LG_SSHD_PORT proto tcp")
  fi
done
web_ports=()
for port in $LG_PUBLIC_TCP_PORTS; do
  [ "$port" = "$LG_SSHD_PORT" ] && continue # SSH is governed by LG_SSH_ALLOW_FROM
  web_ports+=("$port")
  for cidr in $LG_WEB_ALLOW_FROM; do
    if is_any "$cidr"; then
      desired+=("allow $port/tcp")
    else
      desired+=("allow from $cidr to any port $port proto tcp")
    fi
  done
done

# Add only what is missing: one `ufw` call per new rule (a Cloudflare list is ~40 rules; calling
# ufw for each on every run would make a converged run slow).
added=$(ufw show added 2>/dev/null | sed -n 's/^ufw //p' || true)
for rule in "${desired[@]}"; do
  if ! grep -qxF -- "$rule" <<<"$added"; then
    # shellcheck disable=SC2086 # a rule is several ufw words
    ufw $rule >/dev/null
    log "added rule: $rule"
  fi
done

# Remove what is not desired (e.g. a port or source dropped from config), SSH rules last.
removals=()
while IFS= read -r rule; do
  [ -n "$rule" ] || continue
  keep=0
  for d in "${desired[@]}"; do [ "$rule" = "$d" ] && keep=1; done
  [ "$keep" = 1 ] || removals+=("$rule")
done <<<"$added"
for pass in other ssh; do
  for rule in "${removals[@]}"; do
    case "$rule" in *"port $LG_SSHD_PORT "* | *" $LG_SSHD_PORT/tcp" | *" $LG_SSHD_PORT") is_ssh=ssh ;; *) is_ssh=other ;; esac
    [ "$is_ssh" = "$pass" ] || continue
    # shellcheck disable=SC2086
    ufw delete $rule >/dev/null
    log "removed rule: $rule"
  done
done

# DOCKER-USER, rendered as an iptables-restore block.
docker_user_block() {
  echo "# BEGIN launchgate DOCKER-USER (HardenedHost step \"firewall\"; edits are overwritten)"
  echo "*filter"
  echo ":DOCKER-USER - [0:0]"
  echo "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
  echo "-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP"
  echo "-A DOCKER-USER -m conntrack ! --ctstate DNAT -j RETURN"
  echo "-A DOCKER-USER -i docker0 -j RETURN"
  echo "-A DOCKER-USER -i br-+ -j RETURN"
  local port cidr
  for port in "${web_ports[@]}"; do
    for cidr in $LG_WEB_ALLOW_FROM; do
      if is_any "$cidr"; then
        echo "-A DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport $port -j RETURN"
      elif [[ "$cidr" != *:* ]]; then
        echo "-A DOCKER-USER -s $cidr -p tcp -m conntrack --ctstate DNAT --ctorigdstport $port -j RETURN"
      fi
    done
  done
  echo "-A DOCKER-USER -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix \"[UFW DOCKER BLOCK] \""
  echo "-A DOCKER-USER -j DROP"
  echo "COMMIT"
  echo "# END launchgate DOCKER-USER"
}
after=/etc/ufw/after.rules
block=$(docker_user_block)
# A block that iptables would refuse must never reach after.rules: UFW would fail to load at boot.
if ! errors=$(printf '%s\n' "$block" | grep -v '^#' | iptables-restore --test --noflush 2>&1); then
  log "DOCKER-USER rules rejected by iptables-restore --test; after.rules left unchanged:"
  printf '%s\n' "$errors" >&2
  exit 1
fi
new_after=$(mktemp)
trap 'rm -f "$new_after"' EXIT
{
  sed '/^# BEGIN launchgate DOCKER-USER/,/^# END launchgate DOCKER-USER/d' "$after"
  printf '%s\n' "$block"
} >"$new_after"
after_changed=0
install_file "$after" 0640 root:root <"$new_after" && after_changed=1

# UFW applies its own kernel settings (/etc/ufw/sysctl.conf, IPT_SYSCTL) on every start and
# reload, and Debian's file sets e.g. log_martians=0: it would silently undo the sysctl step.
# Every key both files set takes the sysctl step's value.
hardening=/etc/sysctl.d/60-launchgate-hardening.conf
ufw_sysctl=/etc/ufw/sysctl.conf
if [ -f "$hardening" ] && [ -f "$ufw_sysctl" ]; then
  new_sysctl=$(mktemp)
  awk -F' = ' 'NR == FNR { if ($0 ~ /^[a-z]/) { k = $1; gsub(/\./, "/", k); want[k] = $2 } next }
    { split($0, kv, "="); if ((kv[1] in want) && kv[2] != want[kv[1]]) { print kv[1] "=" want[kv[1]]; next } print }' \
    "$hardening" "$ufw_sysctl" >"$new_sysctl"
  if ! cmp -s "$new_sysctl" "$ufw_sysctl"; then
    log "aligned $ufw_sysctl with $hardening: $(diff "$ufw_sysctl" "$new_sysctl" | sed -n 's/^> //p' | paste -sd ' ' -)"
    cat "$new_sysctl" >"$ufw_sysctl"
    after_changed=1 # reload so the aligned values are what UFW applies now
  fi
  rm -f "$new_sysctl"
fi

status=$(ufw status verbose)
set_default() { # DIRECTION POLICY
  if ! grep -q "^Default:.*$2 ($1)" <<<"$status"; then
    ufw default "$2" "$1" >/dev/null
    log "default $1: $2"
  fi
}
set_default incoming deny
set_default outgoing allow
set_default routed deny
if ! grep -q '^Status: active' <<<"$status"; then
  ufw logging low >/dev/null
  ufw --force enable >/dev/null
  log "ufw enabled"
elif [ "$after_changed" = 1 ] || ! iptables -C DOCKER-USER -j DROP 2>/dev/null; then
  ufw reload >/dev/null
  log "ufw reloaded (DOCKER-USER rules)"
fi
ufw status | grep -q '^Status: active' || { log "ufw is not active"; exit 1; }
# The loaded chain must end in our DROP (Docker may append its own RETURN after it: unreachable).
iptables -S DOCKER-USER | grep -qx -- '-A DOCKER-USER -j DROP' ||
  { log "DOCKER-USER does not hold launchgate's rules after loading UFW"; exit 1; }
