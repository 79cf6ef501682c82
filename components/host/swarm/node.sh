#!/usr/bin/env bash
# On the first manager: a node's role and labels as configured (and available for tasks).
# Labels not in the config are removed. In: LG_NODE_ID, LG_ROLE (manager|worker),
# LG_LABELS (key=value, one per line).
set -euo pipefail
args=()
current=$(docker node inspect -f '{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$LG_NODE_ID")
while IFS= read -r kv; do
  [ -n "$kv" ] || continue
  grep -qxF "$kv" <<<"$current" || args+=(--label-add "$kv")
done <<<"$LG_LABELS"
while IFS= read -r kv; do
  [ -n "$kv" ] || continue
  key=${kv%%=*}
  grep -q "^$key=" <<<"$LG_LABELS" || args+=(--label-rm "$key")
done <<<"$current"
if [ "$(docker node inspect -f '{{.Spec.Availability}}' "$LG_NODE_ID")" != active ]; then
  args+=(--availability active)
fi
if [ "${#args[@]}" -gt 0 ]; then
  docker node update "${args[@]}" "$LG_NODE_ID" >/dev/null
  echo "[swarm-node] $LG_NODE_ID: ${args[*]}" >&2
fi
if [ "$(docker node inspect -f '{{.Spec.Role}}' "$LG_NODE_ID")" != "$LG_ROLE" ]; then
  if [ "$LG_ROLE" = manager ]; then docker node promote "$LG_NODE_ID" >/dev/null; else docker node demote "$LG_NODE_ID" >/dev/null; fi
  echo "[swarm-node] $LG_NODE_ID is now a $LG_ROLE" >&2
fi
# A promoted manager counts for the Raft quorum only once it is reachable: wait for it (bounded).
if [ "$LG_ROLE" = manager ]; then
  for _ in $(seq 60); do
    [ "$(docker node inspect -f '{{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{end}}' "$LG_NODE_ID")" = reachable ] && break
    sleep 1
  done
fi
echo "$LG_NODE_ID $LG_ROLE"
