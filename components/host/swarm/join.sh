#!/usr/bin/env bash
# Joins this node to the swarm, once (a member is left as it is); prints the node id. The join
# token arrives on stdin, never in the command text, the environment or a log line.
# In: LG_MANAGER_ADDR, LG_ADVERTISE_ADDR.
set -euo pipefail
IFS= read -r token
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = active ]; then
  echo "[swarm-join] already a swarm member" >&2
else
  for attempt in 1 2 3 4 5; do
    if docker swarm join --token "$token" --advertise-addr "$LG_ADVERTISE_ADDR" "$LG_MANAGER_ADDR:2377" >/dev/null 2>&1; then
      break
    fi
    [ "$attempt" -lt 5 ] || { echo "[swarm-join] could not join $LG_MANAGER_ADDR" >&2; exit 1; }
    sleep 2
  done
  echo "[swarm-join] joined $LG_MANAGER_ADDR" >&2
fi
docker info --format '{{.Swarm.NodeID}}'
