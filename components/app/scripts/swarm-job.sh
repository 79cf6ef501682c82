#!/usr/bin/env bash
# Runs a one-shot job on a Docker Swarm and waits for it: `docker service create --mode
# replicated-job` (Engine API 1.41+, Docker 20.10+) on a manager, as the deploy user. @pulumi/docker
# 5.2.0's Service has no job mode, and a container cannot join the internal overlay (not
# attachable), so the job is a Swarm service that runs one task to completion.
#   LG_JOB_NAME      service name (per release: a re-run of the same release replaces a leftover)
#   LG_JOB_ARGS      `docker service create` arguments, shell-quoted (rendered by the program)
#   LG_JOB_TIMEOUT   seconds the job may take before it counts as failed
# Exits 0 only when the task completed (exit 0); prints the job's last log lines either way; the
# job service is removed afterwards (its logs with it), also on failure and timeout.
set -euo pipefail
name=$LG_JOB_NAME
args=()
eval "args=($LG_JOB_ARGS)"

docker service rm "$name" >/dev/null 2>&1 || true
trap 'docker service rm "$name" >/dev/null 2>&1 || true' EXIT

start=$SECONDS
docker service create --detach --quiet --name "$name" "${args[@]}" >/dev/null
state=""
while :; do
  state=$(docker service ps "$name" --no-trunc --format '{{.CurrentState}}|{{.Error}}' 2>/dev/null | head -1)
  case ${state%%|*} in
    Complete*) break ;;
    Failed* | Rejected* | Shutdown*) break ;;
  esac
  if [ $((SECONDS - start)) -ge "$LG_JOB_TIMEOUT" ]; then
    state="Timeout after ${LG_JOB_TIMEOUT}s (last: ${state:-no task})|"
    break
  fi
  sleep 1
done
logs=$(docker service logs --raw --tail 20 "$name" 2>&1 || true)
if [[ $state == Complete* ]]; then
  echo "job $name completed in $((SECONDS - start)) s"
  [ -z "$logs" ] || printf '%s\n' "$logs"
  exit 0
fi
echo "job $name failed: ${state%%|*} ${state#*|}" >&2
[ -z "$logs" ] || printf 'last log lines:\n%s\n' "$logs" >&2
exit 1
