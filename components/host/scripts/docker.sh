#!/usr/bin/env bash
# Step "docker": Debian's docker.io engine (from the distribution archive, so
# unattended-upgrades patches it; the runbook's get.docker.com pipe-to-shell is avoided) with a
# hardened daemon.json (CIS Docker Benchmark v1.6 §2):
#   log rotation (2.x logging), live-restore (2.15), userland-proxy off (2.16),
#   no-new-privileges as the default for every container (2.18), icc off on the default bridge (2.2).
set -euo pipefail
# userland-proxy off makes dockerd enable hairpin NAT through /proc/sys (route_localnet), which is
# read-only in a container: the local VPS keeps the proxy on (its only documented difference).
userland_proxy=false
if in_container; then userland_proxy=true; fi
# daemon.json first, so the engine's very first start (package postinst) already uses it.
changed=0
install_file /etc/docker/daemon.json 0644 root:root <<JSON && changed=1
{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "5" },
  "live-restore": true,
  "userland-proxy": $userland_proxy,
  "no-new-privileges": true,
  "icc": false
}
JSON
ensure_pkgs docker.io

start_dockerd() {
  if have_systemd; then
    service_up docker
  else
    # Debian's SysV script raises ulimits, which a container without CAP_SYS_RESOURCE may not:
    # start the daemon directly, detached from this SSH session.
    log "starting dockerd"
    setsid dockerd </dev/null >>/var/log/dockerd.log 2>&1 &
  fi
}

if docker info >/dev/null 2>&1; then
  if [ "$changed" = 1 ]; then
    log "daemon.json changed: restarting the engine (live-restore keeps containers running)"
    if have_systemd; then
      systemctl restart docker
    else
      pkill -x dockerd
      wait_for 30 bash -c '! pgrep -x dockerd'
      start_dockerd
    fi
  fi
else
  start_dockerd
fi
wait_for 60 docker info

# The program sets engine features by the API version it was told (healthcheck start intervals
# from 1.44): refuse an older engine here, by name, rather than at the first container create.
require_engine_api "${LG_ENGINE_API_MIN:-1.41}"
