#!/bin/sh
# Opens (or reuses) the DB admin tunnel: an SSH local forward
#   127.0.0.1:$LOCAL_PORT -> $REMOTE_ADDRESS:5432 (Postgres on the VPS's internal docker network)
# as the deploy user, whose sshd `PermitOpen` allows exactly that destination.
# The private key arrives on stdin and exists only in a 0600 temp file until ssh has logged in.
# Env: SSH_HOST SSH_PORT SSH_USER LOCAL_PORT REMOTE_ADDRESS CONTROL_SOCKET
#      [KNOWN_HOSTS_LINE: the pinned host key's known_hosts line]
set -eu
umask 077

if ssh -S "$CONTROL_SOCKET" -O check launchgate-tunnel 2>/dev/null; then
  cat >/dev/null # the key is not needed: drain stdin
  echo "tunnel already open: 127.0.0.1:$LOCAL_PORT -> $REMOTE_ADDRESS:5432"
  exit 0
fi
rm -f "$CONTROL_SOCKET"
mkdir -p "$(dirname "$CONTROL_SOCKET")"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cat >"$work/id"
chmod 600 "$work/id"

if [ -n "${KNOWN_HOSTS_LINE:-}" ]; then
  # Pinned host key: refuse anything else.
  printf '%s\n' "$KNOWN_HOSTS_LINE" >"$work/known_hosts"
  hostcheck="-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$work/known_hosts"
else
  hostcheck="-o StrictHostKeyChecking=accept-new"
fi

# -f backgrounds ssh only after login and (ExitOnForwardFailure) the forward are established;
# its stdio goes to files so this command returns instead of waiting on the master's pipes.
# shellcheck disable=SC2086 # $hostcheck is a list of options
if ! ssh -f -N -M -S "$CONTROL_SOCKET" \
  -o ExitOnForwardFailure=yes -o BatchMode=yes -o IdentitiesOnly=yes \
  -o ServerAliveInterval=15 -o ServerAliveCountMax=3 $hostcheck \
  -L "127.0.0.1:$LOCAL_PORT:$REMOTE_ADDRESS:5432" \
  -i "$work/id" -p "$SSH_PORT" "$SSH_USER@$SSH_HOST" </dev/null >/dev/null 2>"$work/err"; then
  cat "$work/err" >&2
  exit 1
fi
echo "tunnel open: 127.0.0.1:$LOCAL_PORT -> $REMOTE_ADDRESS:5432"
