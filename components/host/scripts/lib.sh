#!/usr/bin/env bash
# Helpers shared by every HardenedHost step. HardenedHost sends, per step:
#   set -euo pipefail; export LG_...='...'   (the step's settings, single-quote escaped)
#   this file
#   the step script
# as one text to `sudo -n bash`. To run a step by hand: cat env.sh lib.sh STEP.sh | sudo bash
# Every helper is idempotent and reports only what it changed, so a second run is quiet and fast.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

log() { printf '[%s] %s\n' "${LG_STEP:-launchgate}" "$*" >&2; }

# True inside a container (the local stack's disposable VPS), where some kernel-level controls
# (sysctl writes, auditd) cannot be applied and are installed as configuration only.
in_container() {
  [ -f /.dockerenv ] || [ -f /run/.containerenv ] || grep -qa 'container=' /proc/1/environ 2>/dev/null
}

# True when systemd is PID 1 (a real VPS); the container uses SysV init scripts via `service`.
have_systemd() { [ -d /run/systemd/system ]; }

# Installs the packages that are missing; no apt call at all when everything is present.
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt_refresh
  apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
}

# apt-get update at most once per hour (stamp file), so repeated runs stay fast.
apt_refresh() {
  local stamp=/var/lib/launchgate/apt-updated
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    apt-get update -q >/dev/null
    install -d -m 0755 /var/lib/launchgate
    touch "$stamp"
  fi
}

# 0640 -> 640, as `stat -c %a` prints it.
norm_mode() { printf '%o' "$((8#$1))"; }

# install_file PATH MODE OWNER:GROUP  (content on stdin)
# Writes PATH only when content, mode or owner differ; returns 0 when it changed, 1 when not.
install_file() {
  local path=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c '%a %U:%G' "$path")" = "$(norm_mode "$mode") $owner" ]; then
    rm -f "$tmp"
    return 1
  fi
  install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$path"
  rm -f "$tmp"
  log "wrote $path"
  return 0
}

# ensure_dir PATH MODE OWNER:GROUP
ensure_dir() {
  local path=$1 mode=$2 owner=$3
  # Not `install -d` on an existing directory: it resets the mode to 0755 first (a transient
  # widening of permissions on every run).
  if [ ! -d "$path" ]; then
    mkdir -p "$(dirname "$path")"
    install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$path"
    log "created $path ($mode $owner)"
    return 0
  fi
  if [ "$(stat -c '%a %U:%G' "$path")" != "$(norm_mode "$mode") $owner" ]; then
    chown "$owner" "$path"
    chmod "$mode" "$path"
    log "set $path to $mode $owner"
  fi
}

# service_up NAME [DAEMON...]: enabled at boot and running. Without systemd (the local VPS) the
# SysV script is used; packages that ship none (rsyslog on Debian 12) start DAEMON directly.
service_up() {
  local name=$1
  shift
  if have_systemd; then
    systemctl enable --now "$name" >/dev/null 2>&1 || systemctl enable --now "$name"
  elif [ -x "/etc/init.d/$name" ]; then
    if ! service "$name" status >/dev/null 2>&1; then
      log "starting $name"
      service "$name" start >/dev/null
    fi
  elif [ "$#" -gt 0 ]; then
    if ! pgrep -x "$(basename "$1")" >/dev/null; then
      log "starting $name ($*)"
      "$@"
    fi
  else
    log "no systemd and no init script for $name"
    return 1
  fi
}

# service_reload NAME: apply changed configuration (restart when reload is not supported).
service_reload() {
  local name=$1
  if have_systemd; then
    systemctl reload-or-restart "$name"
  else
    service "$name" restart >/dev/null
  fi
  log "reloaded $name"
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; fails after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out waiting for: $*"
      return 1
    fi
    sleep 1
  done
}
