#!/usr/bin/env bash
# Refreshes Cloudflare's published edge ranges kept in the repository
# (contract/cloudflare/ips-v4.txt, ips-v6.txt). Run by hand, review `git diff`, commit:
# the deployment itself never fetches them (the firewall and nginx must not depend on
# cloudflare.com answering during `pulumi up`).
#   usage: bash scripts/refresh-cloudflare-ips.sh
set -euo pipefail
dir=$(cd "$(dirname "$0")/../contract/cloudflare" && pwd)
for family in v4 v6; do
  tmp=$(mktemp)
  curl -fsS --max-time 30 "https://www.cloudflare.com/ips-$family" >"$tmp"
  # Refuse an empty or garbled answer instead of writing it.
  if ! grep -qE '^[0-9a-f.:]+/[0-9]+$' "$tmp" || grep -vqE '^([0-9a-f.:]+/[0-9]+)?$' "$tmp"; then
    echo "refresh-cloudflare-ips: unexpected content from https://www.cloudflare.com/ips-$family" >&2
    rm -f "$tmp"
    exit 1
  fi
  grep -E '.' "$tmp" >"$dir/ips-$family.txt"
  rm -f "$tmp"
done
git -C "$dir" diff --stat -- . || true
