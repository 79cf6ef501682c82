#!/usr/bin/env bash
# The worker join token (stdout is a Pulumi secret; nothing else is printed).
set -euo pipefail
docker swarm join-token -q worker
