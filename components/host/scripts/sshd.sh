#!/usr/bin/env bash
# Step "sshd": the dev-sec ssh-baseline for the server, as a drop-in that Debian's sshd_config
# includes first (first value wins). Safe by construction:
#   1. the new drop-in is validated together with the whole config (`sshd -t`);
#   2. if invalid, the previous drop-in is put back and the step fails; sshd is never
#      signalled, so it keeps serving with the old config (no lock-out);
#   3. only a valid, changed config is reloaded (SIGHUP: running sessions stay up).
# Needs: LG_DEPLOY_USER LG_SSHD_PORT LG_SSH_CIPHERS LG_SSH_KEX LG_SSH_MACS
# Optional: LG_PERMIT_OPEN (space-separated host:port the deploy user may forward to)
set -euo pipefail
: "${LG_DEPLOY_USER:?}" "${LG_SSHD_PORT:?}" "${LG_SSH_CIPHERS:?}" "${LG_SSH_KEX:?}" "${LG_SSH_MACS:?}"
ensure_pkgs openssh-server
dropin=/etc/ssh/sshd_config.d/10-launchgate.conf
grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config ||
  { log "/etc/ssh/sshd_config does not include sshd_config.d; refusing to guess"; exit 1; }

# Host keys: only ed25519 and RSA (>= 3072 bit); no DSA/ECDSA.
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
[ -f /etc/ssh/ssh_host_rsa_key ] || ssh-keygen -q -t rsa -b 4096 -N '' -f /etc/ssh/ssh_host_rsa_key

new=$(mktemp)
trap 'rm -f "$new"' EXIT
{
  cat <<CONF
# managed by launchgate (HardenedHost step "sshd"); edits are overwritten
Port $LG_SSHD_PORT
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
AuthenticationMethods publickey
MaxAuthTries 2
MaxSessions 10
LoginGraceTime 30
StrictModes yes
IgnoreRhosts yes
HostbasedAuthentication no
KexAlgorithms $LG_SSH_KEX
Ciphers $LG_SSH_CIPHERS
MACs $LG_SSH_MACS
AllowAgentForwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
LogLevel VERBOSE
ClientAliveInterval 300
ClientAliveCountMax 2
TCPKeepAlive no
Compression no
UseDNS no
PrintMotd no
Banner /etc/issue.net
DebianBanner no
CONF
  # Match blocks end only at the next Match or end of file: keep this last.
  if [ -n "${LG_PERMIT_OPEN:-}" ]; then
    printf '\n# DB admin tunnel: the deploy user may forward locally, only to these destinations\n'
    printf 'Match User %s\n  AllowTcpForwarding local\n  PermitOpen %s\n' "$LG_DEPLOY_USER" "$LG_PERMIT_OPEN"
  fi
} >"$new"

if [ -f "$dropin" ] && cmp -s "$new" "$dropin"; then
  sshd -t # still valid (nothing else changed underneath)
  exit 0
fi

backup=
if [ -f "$dropin" ]; then
  backup=$(mktemp)
  cp -p "$dropin" "$backup"
fi
install -m 0600 -o root -g root "$new" "$dropin"
if ! errors=$(sshd -t 2>&1); then
  if [ -n "$backup" ]; then mv "$backup" "$dropin"; else rm -f "$dropin"; fi
  log "sshd -t rejected the new config; previous config restored, sshd not reloaded:"
  printf '%s\n' "$errors" >&2
  exit 1
fi
rm -f "${backup:-/nonexistent}"
log "wrote $dropin (validated)"

if have_systemd; then
  systemctl reload ssh
elif [ -s /run/sshd.pid ]; then
  kill -HUP "$(cat /run/sshd.pid)"
else
  log "sshd pid unknown; config takes effect at its next start"
fi
# sshd re-execs on SIGHUP; finish only when it answers again, so the next step's connection
# does not race the restart (bounded: a failure here is reported, not waited on forever).
wait_for 30 ssh-keyscan -T 2 -p "$LG_SSHD_PORT" 127.0.0.1
log "reloaded sshd"
