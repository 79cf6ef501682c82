#!/usr/bin/env bash
# Delete of a join: this node leaves the swarm (after the manager drained and removed it).
set -euo pipefail
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != inactive ]; then
  docker swarm leave --force >/dev/null
  echo "[swarm-leave] left the swarm" >&2
fi
