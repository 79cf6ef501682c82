#!/usr/bin/env bash
# Delete of a node's settings (the host left the config): on the first manager, demote it,
# drain it, wait (bounded) until its tasks run elsewhere, then remove it from the swarm.
# In: LG_NODE_ID, LG_DRAIN_TIMEOUT_SECONDS.
set -euo pipefail
if ! docker node inspect "$LG_NODE_ID" >/dev/null 2>&1; then
  echo "[swarm-node-remove] $LG_NODE_ID is not in the swarm" >&2
  exit 0
fi
if [ "$(docker node inspect -f '{{.Spec.Role}}' "$LG_NODE_ID")" = manager ]; then
  docker node demote "$LG_NODE_ID" >/dev/null
fi
docker node update --availability drain "$LG_NODE_ID" >/dev/null
deadline=$((SECONDS + LG_DRAIN_TIMEOUT_SECONDS))
while [ -n "$(docker node ps -q --filter desired-state=running "$LG_NODE_ID")" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "[swarm-node-remove] tasks still on $LG_NODE_ID after ${LG_DRAIN_TIMEOUT_SECONDS}s; removing anyway" >&2
    break
  fi
  sleep 1
done
docker node rm --force "$LG_NODE_ID" >/dev/null
echo "[swarm-node-remove] drained and removed $LG_NODE_ID" >&2
