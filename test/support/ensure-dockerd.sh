#!/usr/bin/env bash
# Starts Debian's dockerd in the background when no engine answers, then waits for its socket.
# Leaves an already running engine alone. Log: ${TMPDIR:-/tmp}/launchgate-dockerd.log
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || { echo "dockerd not installed (apt-get install docker.io)" >&2; exit 1; }
nohup dockerd >"${TMPDIR:-/tmp}/launchgate-dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "dockerd did not come up in 60s; see ${TMPDIR:-/tmp}/launchgate-dockerd.log" >&2
tail -20 "${TMPDIR:-/tmp}/launchgate-dockerd.log" >&2
exit 1
