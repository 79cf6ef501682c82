# shellcheck shell=bash
# Finds the container a workload runs in on this host, for every ops script that reaches a
# workload with `docker exec`/`docker inspect` (backups, the restore drill, monitoring): the one
# place that knows how a workload is named per placement (spliced in by the renderer).
# Needs: LG_PLACEMENT (`single-host`: a workload is the container of that name, or `app:<app>`
# for an app, whose container's name changes with every release; `swarm`: a workload is a Swarm
# service, and its container on this node is the running task container carrying the engine's
# `com.docker.swarm.service.name=<service>` label).

# lg_container WORKLOAD: prints the container id/name to `docker exec` into on this host; fails
# with the reason on stderr when the workload has no running container here.
lg_container() {
  local workload=$1 ids
  if [ "${LG_PLACEMENT:-single-host}" != swarm ]; then
    case $workload in
      app:*) lg_app_container "${workload#app:}" ;;
      *) printf '%s\n' "$workload" ;;
    esac
    return
  fi
  # Newest first (docker ps order): during a start-first update the new task is the one to use.
  if ! ids=$(docker ps -q --filter "label=com.docker.swarm.service.name=$workload" --filter status=running 2>&1); then
    echo "cannot list the task containers of Swarm service $workload on $(hostname): $ids" >&2
    return 1
  fi
  if [ -z "$ids" ]; then
    echo "Swarm service $workload has no running task on this node ($(hostname)); ops for it run on the node its placement pins it to" >&2
    return 1
  fi
  head -1 <<<"$ids"
}

# lg_service_replicas SERVICE: prints "running/desired" of a Swarm service (from a manager's view);
# "unknown" when this node cannot tell (a worker has no view of the cluster's services).
lg_service_replicas() {
  local service=$1 out
  if [ "$(docker info -f '{{.Swarm.ControlAvailable}}' 2>/dev/null)" != true ]; then
    echo unknown
    return 0
  fi
  out=$(docker service ls --filter "name=$service" --format '{{.Name}} {{.Replicas}}' 2>/dev/null |
    awk -v s="$service" '$1 == s { print $2; exit }')
  echo "${out:-0/0}"
}

# lg_app_container APP: the running container of app APP on this host (label launchgate.app=APP),
# not a canary (launchgate.variant) nor its migration job (launchgate.job) that stands for the
# app's state (what the monitor reports): of several (a create-before-delete release in flight,
# or a failed one left beside the old), an unhealthy one first (so a failed release is not hidden
# by the healthy old one still serving beside it), else a healthy one (a release still starting
# beside the old is not an alert), else the newest.
lg_app_container() {
  local app=$1 rows pick
  if ! rows=$(docker ps --filter "label=launchgate.app=$app" --filter status=running \
    --format '{{.ID}} {{.Status}} <{{.Label "launchgate.variant"}}{{.Label "launchgate.job"}}>' 2>&1); then
    echo "cannot list the containers of app $app on $(hostname): $rows" >&2
    return 1
  fi
  # Newest first (docker ps order); Status reads e.g. "Up 3 minutes (healthy)".
  pick=$(awk '$NF == "<>" && /\(unhealthy\)/ { print $1; exit }' <<<"$rows")
  [ -n "$pick" ] || pick=$(awk '$NF == "<>" && /\(healthy\)/ { print $1; exit }' <<<"$rows")
  [ -n "$pick" ] || pick=$(awk '$NF == "<>" { print $1; exit }' <<<"$rows")
  if [ -z "$pick" ]; then
    echo "app $app has no running container on this host ($(hostname))" >&2
    return 1
  fi
  printf '%s\n' "$pick"
}
