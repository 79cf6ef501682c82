#!/usr/bin/env bash
# Step "packages": security updates and the essentials the runbook installs by hand
# (seed 001 §8.1.1). `apt-get upgrade` is a no-op when nothing is pending; the package list is
# refreshed at most hourly so re-runs stay fast.
# Needs: LG_PACKAGES (space-separated)
set -euo pipefail
: "${LG_PACKAGES:?}"
apt_refresh
# Nothing becomes upgradable without new package lists (packages installed since came from the
# same lists, at their candidate version): check again only after the lists changed.
checked=/var/lib/launchgate/upgrade-checked
if [ ! "$checked" -nt /var/lib/apt/lists ]; then
  upgradable=$(apt-get -s -o Debug::NoLocking=1 upgrade | grep -c '^Inst ' || true)
  if [ "$upgradable" -gt 0 ]; then
    log "upgrading $upgradable package(s)"
    apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade >/dev/null
  fi
  install -d -m 0755 /var/lib/launchgate
  touch "$checked"
fi
# shellcheck disable=SC2086 # word splitting of the package list is intended
ensure_pkgs $LG_PACKAGES
