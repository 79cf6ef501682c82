#!/usr/bin/env bash
# Runs where `pulumi up` runs (command.local.Command), not on the host. Sends the bootstrap
# step (stdin) to the host over SSH:
#   - as the deploy user via `sudo -n` when that already works (a hardened host: root login is
#     off after the sshd step, so a second `pulumi up` that re-runs bootstrap must not need it);
#   - otherwise as the bootstrap user (a fresh VPS).
# The step itself is idempotent, so either path converges to the same state.
# Needs: LG_HOST LG_PORT LG_BOOTSTRAP_USER LG_BOOTSTRAP_KEY LG_DEPLOY_USER LG_DEPLOY_KEY
# Optional: LG_CONNECT_TIMEOUT (seconds to wait for sshd to answer, default 120),
#           LG_KNOWN_HOSTS (known_hosts line of the pinned host key)
set -euo pipefail
: "${LG_HOST:?}" "${LG_PORT:?}" "${LG_BOOTSTRAP_USER:?}" "${LG_BOOTSTRAP_KEY:?}" "${LG_DEPLOY_USER:?}" "${LG_DEPLOY_KEY:?}"
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
(
  umask 077
  printf '%s\n' "$LG_BOOTSTRAP_KEY" >"$keys/bootstrap"
  printf '%s\n' "$LG_DEPLOY_KEY" >"$keys/deploy"
)
script=$(cat)
# Host key: with LG_KNOWN_HOSTS (the pinned key's known_hosts line) ssh refuses any other key;
# without it (a disposable VPS whose key nobody pinned) the key is not checked.
# BatchMode makes any prompt a failure instead of a hang.
if [ -n "${LG_KNOWN_HOSTS:-}" ]; then
  printf '%s\n' "$LG_KNOWN_HOSTS" >"$keys/known_hosts"
  hostkey_opts=(-o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$keys/known_hosts")
else
  hostkey_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)
fi
ssh_opts=(-p "$LG_PORT" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10
  "${hostkey_opts[@]}" -o LogLevel=ERROR)
run_as() { # KEYFILE USER REMOTE_COMMAND
  printf '%s\n' "$script" | ssh "${ssh_opts[@]}" -i "$1" "$2@$LG_HOST" "$3"
}

# A just-started VPS may not answer yet: wait (bounded) until sshd speaks.
deadline=$((SECONDS + ${LG_CONNECT_TIMEOUT:-120}))
until ssh-keyscan -T 5 -p "$LG_PORT" "$LG_HOST" >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "bootstrap: no sshd on $LG_HOST:$LG_PORT after ${LG_CONNECT_TIMEOUT:-120}s" >&2
    exit 1
  fi
  sleep 2
done

# The remote commands below are expanded by the remote shell, on purpose.
# shellcheck disable=SC2016
if ssh "${ssh_opts[@]}" -i "$keys/deploy" "$LG_DEPLOY_USER@$LG_HOST" 'sudo -n true' </dev/null >/dev/null 2>"$keys/probe"; then
  echo "bootstrap: $LG_DEPLOY_USER already works; re-applying through sudo" >&2
  run_as "$keys/deploy" "$LG_DEPLOY_USER" 'sudo -n bash -c "$(cat)" launchgate-bootstrap'
elif grep -q "Host key verification failed" "$keys/probe"; then
  echo "bootstrap: $LG_HOST:$LG_PORT presented a host key other than the pinned one (launchgate:host.hostKey); refusing to send anything" >&2
  cat "$keys/probe" >&2
  exit 1
else
  echo "bootstrap: connecting as $LG_BOOTSTRAP_USER" >&2
  run_as "$keys/bootstrap" "$LG_BOOTSTRAP_USER" 'if [ "$(id -u)" = 0 ]; then bash -c "$(cat)" launchgate-bootstrap; else sudo -n bash -c "$(cat)" launchgate-bootstrap; fi'
fi
