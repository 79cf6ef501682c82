#!/usr/bin/env bash
# Runs where `pulumi up` runs (command.local.Command), not on the host. Sends the bootstrap
# step (stdin) to the host over SSH:
#   - as the deploy user via `sudo -n` when that already works (a hardened host: root login is
#     off after the sshd step, so a second `pulumi up` that re-runs bootstrap must not need it);
#   - otherwise as the bootstrap user (a fresh VPS).
# The step itself is idempotent, so either path converges to the same state.
# Needs: LG_HOST LG_PORT LG_BOOTSTRAP_USER LG_BOOTSTRAP_KEY LG_DEPLOY_USER LG_DEPLOY_KEY
# Optional: LG_CONNECT_TIMEOUT (seconds to wait for sshd to answer, default 120)
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
# Host keys are not pinned (the command provider's remote.Command does not pin them either);
# BatchMode makes any prompt a failure instead of a hang.
ssh_opts=(-p "$LG_PORT" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
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
if ssh "${ssh_opts[@]}" -i "$keys/deploy" "$LG_DEPLOY_USER@$LG_HOST" 'sudo -n true' </dev/null >/dev/null 2>&1; then
  echo "bootstrap: $LG_DEPLOY_USER already works; re-applying through sudo" >&2
  run_as "$keys/deploy" "$LG_DEPLOY_USER" 'sudo -n bash -c "$(cat)" launchgate-bootstrap'
else
  echo "bootstrap: connecting as $LG_BOOTSTRAP_USER" >&2
  run_as "$keys/bootstrap" "$LG_BOOTSTRAP_USER" 'if [ "$(id -u)" = 0 ]; then bash -c "$(cat)" launchgate-bootstrap; else sudo -n bash -c "$(cat)" launchgate-bootstrap; fi'
fi
