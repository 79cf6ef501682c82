#!/usr/bin/env bash
# Swarm ports, open only between cluster members (Docker docs "Use overlay networks":
# 2377/tcp cluster management to managers, 7946/tcp+udp node communication, 4789/udp VXLAN).
# Runs as root (sudo) after HardenedHost's firewall step; owns only the UFW rules commented
# `launchgate-swarm`, so it adds what is missing and deletes rules of members no longer listed.
# In: LG_PEERS (member addresses, one per line), LG_IS_MANAGER (true|false).
set -euo pipefail
tag=launchgate-swarm
want=$(
  while IFS= read -r peer; do
    [ -n "$peer" ] || continue
    if [ "$LG_IS_MANAGER" = true ]; then echo "allow from $peer to any port 2377 proto tcp"; fi
    echo "allow from $peer to any port 7946 proto tcp"
    echo "allow from $peer to any port 7946 proto udp"
    echo "allow from $peer to any port 4789 proto udp"
  done <<<"$LG_PEERS" | sort -u
)
have=$(ufw show added 2>/dev/null | sed -n "s/^ufw \(allow from .*\) comment '$tag'$/\1/p" | sort -u)
changed=0
while IFS= read -r rule; do
  [ -n "$rule" ] || continue
  # shellcheck disable=SC2086 # a rule is ufw words
  ufw delete $rule >/dev/null && changed=1 && echo "[swarm-firewall] removed: $rule" >&2
done < <(comm -13 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
while IFS= read -r rule; do
  [ -n "$rule" ] || continue
  # shellcheck disable=SC2086
  ufw $rule comment "$tag" >/dev/null && changed=1 && echo "[swarm-firewall] added: $rule" >&2
done < <(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
echo "swarm-firewall: $(printf '%s\n' "$want" | grep -c .) rule(s), changed=$changed"
