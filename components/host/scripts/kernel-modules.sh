#!/usr/bin/env bash
# Step "kernel-modules": kernel modules a VPS never needs cannot be loaded (CIS 3.5 uncommon
# network protocols, CIS 1.1.10 / lynis USB-1000, STRG-1846 removable storage; lynis NETW-3200).
# `install <module> /bin/true` makes every load, explicit or automatic, a no-op; `blacklist`
# additionally stops alias-based autoloading. The filesystems a VPS never mounts are the
# baseline step's (launchgate-filesystems.conf).
#   dccp, sctp, rds, tipc: network protocols with a history of remotely reachable kernel bugs;
#     the apps speak TCP/UDP only.
#   usb-storage, firewire-core/-ohci/-sbp2, thunderbolt: buses a VPS does not have; on hardware
#     they are the way data walks out.
# A module already loaded stays loaded until the next boot (removing it could break a running
# system); the step says so.
set -euo pipefail
modules_conf() { # FILE COMMENT MODULE...
  local file=$1 comment=$2 m
  shift 2
  {
    printf '# managed by launchgate (HardenedHost step "kernel-modules"): %s\n' "$comment"
    for m in "$@"; do printf 'install %s /bin/true\nblacklist %s\n' "$m" "$m"; done
  } | install_file "$file" 0644 root:root || true
  for m in "$@"; do
    if [ -r /proc/modules ] && grep -q "^${m//-/_} " /proc/modules; then
      log "module $m is loaded now; it cannot load again after the next boot"
    fi
  done
}
modules_conf /etc/modprobe.d/launchgate-net-protocols.conf "uncommon network protocols" dccp sctp rds tipc
modules_conf /etc/modprobe.d/launchgate-storage-buses.conf "removable storage and external buses" \
  usb-storage firewire-core firewire-ohci firewire-sbp2 thunderbolt
