#!/usr/bin/env bash
# One-time (idempotent) set-up on a fresh Debian bookworm machine: system packages, npm
# dependencies (root and the policy pack), and a running Docker engine. Needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker.io          # the engine the host/services tests and the local stack use
  debootstrap        # builds test images without a registry
  openssh-client     # the tests talk to the disposable VPS over real SSH
  iptables
  shellcheck         # lints the host scripts
  postgresql-client  # psql/pg_restore for checks from outside
  docker-compose     # side-by-side timing against the seeds' compose file
  chromium           # renders the release report in tests
  faketime           # the unit suite also runs with the clock 400 days off (issue 9)
  curl ca-certificates
)

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
if [ -f policies/package.json ]; then (cd policies && npm ci --no-audit --no-fund); fi

bash test/support/ensure-dockerd.sh
echo "setup: ok ($(docker version --format '{{.Server.Version}}') engine, node $(node --version))"
