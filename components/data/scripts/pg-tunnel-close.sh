#!/bin/sh
# Closes the DB admin tunnel opened by pg-tunnel-open.sh. Idempotent: an already closed tunnel is fine.
# Env: CONTROL_SOCKET
set -u
ssh -S "$CONTROL_SOCKET" -O exit launchgate-tunnel 2>/dev/null || true
rm -f "$CONTROL_SOCKET"
