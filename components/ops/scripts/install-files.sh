#!/usr/bin/env bash
# Generic, idempotent host installer (runs as the deploy user; `sudo -n` for system paths).
#   LG_DIRS       lines "MODE PATH": root-owned directories to create.
#   LG_FILES      lines "MODE PATH VAR": write the content of $VAR to PATH, only if it changed.
#   LG_TIMERS     systemd timers to enable and start.
#   LG_STDIN_FILE if set: stdin (a secret) is written there, root-only (0600); it never appears
#                 in the script text, the process list or the command's output.
# Prints one line per change; a second run with the same inputs prints "unchanged".
set -euo pipefail

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi

changed=0
units_changed=0

while read -r mode dir; do
  [ -n "${dir:-}" ] || continue
  if [ ! -d "$dir" ] || [ "$(stat -c '%a' "$dir")" != "${mode#0}" ]; then
    "${SUDO[@]}" install -d -m "$mode" -o root -g root "$dir"
    echo "dir $dir ($mode)"
    changed=1
  fi
done <<<"${LG_DIRS:-}"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# put MODE DEST: installs $tmp at DEST unless DEST already has the same content and mode.
put() {
  local mode=$1 dest=$2
  if "${SUDO[@]}" test -f "$dest" && "${SUDO[@]}" cmp -s "$tmp" "$dest" \
    && [ "$("${SUDO[@]}" stat -c '%a' "$dest")" = "${mode#0}" ]; then
    return 1
  fi
  "${SUDO[@]}" install -D -m "$mode" -o root -g root "$tmp" "$dest"
  echo "file $dest ($mode)"
  changed=1
  return 0
}

while read -r mode dest var; do
  [ -n "${var:-}" ] || continue
  content=${!var}
  printf '%s\n' "${content%$'\n'}" >"$tmp"
  if put "$mode" "$dest"; then
    case $dest in *.service | *.timer) units_changed=1 ;; esac
  fi
done <<<"${LG_FILES:-}"

if [ -n "${LG_STDIN_FILE:-}" ]; then
  # Read the secret without echoing it ($tmp is 0600 from mktemp); an empty stdin leaves an
  # empty file, which turns alerting off.
  cat >"$tmp"
  if put 0600 "$LG_STDIN_FILE" >/dev/null; then echo "secret $LG_STDIN_FILE (0600, updated)"; fi
fi

# systemd runs this host: it is PID 1, else a systemctl that does not report being offline.
systemd_running() {
  [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && return 0
  command -v systemctl >/dev/null 2>&1 || return 1
  # Its exit code is not the answer (non-zero also when "degraded"); under pipefail a pipe would be.
  local state
  state=$("${SUDO[@]}" systemctl is-system-running 2>&1 || true)
  ! grep -Eq 'offline|not been booted|Failed to connect to bus' <<<"$state"
}

# A host not run by systemd (the local stack's container VPS: its init is a shell script, and
# systemctl, when installed, cannot operate): the timers are enabled on disk as `systemctl enable`
# does it (the WantedBy symlink), so the files and their enablement are in place; nothing
# schedules them there.
if ! systemd_running; then
  for t in ${LG_TIMERS:-}; do
    wants=/etc/systemd/system/timers.target.wants/$t
    if [ "$("${SUDO[@]}" readlink "$wants" || true)" != "/etc/systemd/system/$t" ]; then
      "${SUDO[@]}" install -d -m 0755 /etc/systemd/system/timers.target.wants
      "${SUDO[@]}" ln -sfn "/etc/systemd/system/$t" "$wants"
      echo "timer $t enabled (systemd not running on this host: linked, not started)"
      changed=1
    fi
  done
  [ "$changed" -eq 1 ] || echo "unchanged"
  exit 0
fi

if [ "$units_changed" -eq 1 ]; then
  "${SUDO[@]}" systemctl daemon-reload
  echo "systemd daemon-reload"
fi
for t in ${LG_TIMERS:-}; do
  if ! "${SUDO[@]}" systemctl is-enabled --quiet "$t" || ! "${SUDO[@]}" systemctl is-active --quiet "$t"; then
    "${SUDO[@]}" systemctl enable --now "$t"
    echo "timer $t enabled"
    changed=1
  elif [ "$units_changed" -eq 1 ]; then
    # A changed schedule only takes effect once the timer is restarted.
    "${SUDO[@]}" systemctl restart "$t"
  fi
done

[ "$changed" -eq 1 ] || echo "unchanged"
