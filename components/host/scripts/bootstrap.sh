#!/usr/bin/env bash
# Step "bootstrap": the deploy user every later step connects as. Runs as the bootstrap user
# (root on a fresh VPS) or, once that login is disabled, as the deploy user via sudo (see
# bootstrap-runner.sh). Creates the user with the authorized key, docker group membership
# (docker group = root-equivalent, by design: the deploy user runs the containers) and
# passwordless sudo, which every later step uses (`sudo -n bash`). Least privilege (policy
# host-step-effective): one rule, for the deploy user only, run-as root only; the docker group is
# root-equivalent anyway, so a command list would not lower the privilege (policies/host.ts).
# Needs: LG_DEPLOY_USER, LG_DEPLOY_PUBKEY
set -euo pipefail
: "${LG_DEPLOY_USER:?}" "${LG_DEPLOY_PUBKEY:?}"
user=$LG_DEPLOY_USER

command -v sudo >/dev/null || ensure_pkgs sudo
getent group docker >/dev/null || { groupadd --system docker && log "created group docker"; }
if ! id "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --user-group "$user"
  log "created user $user"
fi
# No usable password ('*', not '!': a '!'-locked account is refused by sshd even with a key
# when PAM is off); key authentication only.
if [ "$(getent shadow "$user" | cut -d: -f2)" != "*" ]; then usermod -p '*' "$user"; fi
id -nG "$user" | tr ' ' '\n' | grep -qx docker || { usermod -aG docker "$user" && log "added $user to docker"; }

home=$(getent passwd "$user" | cut -d: -f6)
ensure_dir "$home" 0750 "$user:$user"
ensure_dir "$home/.ssh" 0700 "$user:$user"
printf '%s\n' "$LG_DEPLOY_PUBKEY" | install_file "$home/.ssh/authorized_keys" 0600 "$user:$user" || true

sudoers=/etc/sudoers.d/90-launchgate-$user
tmp=$(mktemp)
printf '# managed by launchgate: the deploy user runs the hardening steps non-interactively\n%s ALL=(root) NOPASSWD: ALL\n' "$user" >"$tmp"
# A broken sudoers file would lock every later step out: validate before installing.
visudo -cqf "$tmp"
install_file "$sudoers" 0440 root:root <"$tmp" || true
rm -f "$tmp"
