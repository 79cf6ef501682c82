#!/usr/bin/env bash
# The DB admin network of a swarm (placement swarm), idempotent, as the deploy user:
#   LG_MODE=config  on the node(s) Postgres may run on: a config-only network holding the subnet
#                   (`docker network create --config-only`): the IPAM a swarm-scoped bridge takes
#                   on each node;
#   LG_MODE=swarm   on a manager: the swarm-scoped, internal bridge built from it
#                   (`--scope swarm --config-from`), which only services can join; prints its id;
#   LG_MODE=remove-swarm | remove-config  the deletes (a network still in use is refused by Docker).
# Why: an overlay address exists only inside the overlay's namespace, so the host's sshd cannot
# forward to Postgres on the internal overlay. On this bridge, the Postgres task gets the one
# address of a /30 (gateway .1, task .2) on the node it runs on, reachable from that node's host
# (the sshd `PermitOpen` destination) and from nowhere else: internal (no egress, no forwarding),
# no published port.
#   LG_NAME  network name;  LG_SUBNET / LG_GATEWAY  its IPv4 subnet and gateway.
set -euo pipefail
config="$LG_NAME-config"
labels=(--label launchgate.managed=true --label launchgate.role=db-admin)

# ensure_network NAME FORMAT EXPECTED WHAT HINT CREATE-ARGS...: NAME exists with `docker network
# inspect -f FORMAT` printing EXPECTED (else exit 1 naming both and HINT), or is created with
# `docker network create CREATE-ARGS... NAME`.
ensure_network() {
  local name=$1 format=$2 expected=$3 what=$4 hint=$5 have
  shift 5
  if have=$(docker network inspect -f "$format" "$name" 2>/dev/null); then
    if [ "$have" != "$expected" ]; then
      echo "network $name exists as \"$have\", expected \"$expected\"$hint" >&2
      exit 1
    fi
    echo "$what $name: unchanged" >&2
  else
    docker network create "$@" "$name" >/dev/null
    echo "$what $name: created" >&2
  fi
}

case $LG_MODE in
  config)
    ensure_network "$config" '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.ConfigOnly}}' \
      "$LG_SUBNET $LG_GATEWAY true" "config-only network" \
      "; remove it (docker network rm $config) once no service uses $LG_NAME" \
      --config-only --subnet "$LG_SUBNET" --gateway "$LG_GATEWAY" "${labels[@]}"
    ;;
  swarm)
    # No labels on the swarm network: Docker refuses any setting of its own on a network built --config-from.
    ensure_network "$LG_NAME" '{{.Scope}} {{.Driver}} {{.Internal}} {{.ConfigFrom.Network}}' \
      "swarm bridge true $config" "swarm network" "" \
      --driver bridge --scope swarm --internal --config-from "$config"
    docker network inspect -f '{{.Id}}' "$LG_NAME"
    ;;
  remove-swarm | remove-config)
    target=$LG_NAME
    [ "$LG_MODE" = remove-swarm ] || target=$config
    if docker network inspect "$target" >/dev/null 2>&1; then
      docker network rm "$target" >/dev/null
      echo "network $target: removed" >&2
    fi
    ;;
  *)
    echo "LG_MODE: expected config, swarm, remove-config or remove-swarm, got ${LG_MODE:-nothing}" >&2
    exit 64
    ;;
esac
