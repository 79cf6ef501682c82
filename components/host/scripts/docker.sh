#!/usr/bin/env bash
# Step "docker": Debian's docker.io engine (from the distribution archive, so
# unattended-upgrades patches it; the runbook's get.docker.com pipe-to-shell is avoided) with a
# hardened daemon.json (CIS Docker Benchmark v1.6 §2):
#   log rotation (2.x logging), live-restore (2.15), userland-proxy off (2.16),
#   no-new-privileges as the default for every container (2.18), icc off on the default bridge (2.2).
set -euo pipefail
ensure_pkgs docker.io
changed=0
install_file /etc/docker/daemon.json 0644 root:root <<'JSON' && changed=1
{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "5" },
  "live-restore": true,
  "userland-proxy": false,
  "no-new-privileges": true,
  "icc": false
}
JSON
if docker info >/dev/null 2>&1; then
  if [ "$changed" = 1 ]; then service_reload docker; fi
else
  service_up docker
fi
wait_for 60 docker info
