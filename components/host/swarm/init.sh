#!/usr/bin/env bash
# `docker swarm init` on the first manager, once: a node already in a swarm is left as it is.
# Prints the node id. In: LG_ADVERTISE_ADDR (the address the other members reach it on).
set -euo pipefail
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = active ]; then
  echo "[swarm-init] already a swarm member" >&2
else
  docker swarm init --advertise-addr "$LG_ADVERTISE_ADDR" --listen-addr "$LG_ADVERTISE_ADDR:2377" >/dev/null
  echo "[swarm-init] initialised on $LG_ADVERTISE_ADDR" >&2
fi
docker info --format '{{.Swarm.NodeID}}'
