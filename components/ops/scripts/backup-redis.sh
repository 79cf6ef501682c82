#!/usr/bin/env bash
# Copies each Redis container's RDB snapshot to LG_BACKUP_DIR/redis/<container>-<ts>.rdb (on a
# swarm: each Redis service's task container on this node, the file named by the service).
# Asks for a fresh snapshot first (BGSAVE, waiting for LASTSAVE to move). redis-cli runs inside
# the container and authenticates with the container's own $REDIS_PASSWORD (the Redis component
# sets it; a Swarm task has it as the file $REDIS_PASSWORD_FILE) through REDISCLI_AUTH, so the
# password never reaches this host's argv or this script.
# If that fails (NOAUTH) the RDB Redis last persisted by its own save policy is copied, with a
# warning. A copy only counts when it starts with the RDB magic "REDIS".
# Needs: LG_BACKUP_DIR LG_REDIS_CONTAINERS LG_LOCK_FILE LG_PLACEMENT (+ lib-workload.sh, lib-backup.sh).
set -euo pipefail
lock_backups
umask 077
dir="$LG_BACKUP_DIR/redis"
mkdir -p "$dir"

# rcli CONTAINER ARGS...: redis-cli inside the container, authenticated from its environment.
rcli() {
  local c=$1
  shift
  # The password from the container's env, or (a Swarm task) from its secret file.
  # shellcheck disable=SC2016 # $REDIS_PASSWORD(_FILE) expands inside the container
  docker exec "$c" sh -c 'REDISCLI_AUTH="${REDIS_PASSWORD:-$(cat "${REDIS_PASSWORD_FILE:-/dev/null}" 2>/dev/null)}" exec redis-cli --no-auth-warning "$@"' rcli "$@"
}

for name in ${LG_REDIS_CONTAINERS:-}; do
  if ! c=$(lg_container "$name"); then
    log "cannot back up Redis $name here"
    exit 1
  fi
  before=$(rcli "$c" LASTSAVE 2>/dev/null || true)
  reply=$(rcli "$c" BGSAVE 2>&1 || true)
  if [[ $reply == *"Background saving started"* ]]; then
    for _ in $(seq 1 120); do
      after=$(rcli "$c" LASTSAVE 2>/dev/null || true)
      [ "$after" != "$before" ] && break
      sleep 1
    done
  else
    log "warning: BGSAVE on $c answered '$reply'; copying the last persisted RDB"
  fi
  rdb=$(rcli "$c" CONFIG GET dir 2>/dev/null | sed -n 2p || true)
  src="${rdb:-/data}/dump.rdb"
  case $src in /*) ;; *) src=/data/dump.rdb ;; esac
  dest="$dir/$name-$(date -u +%Y%m%dT%H%M%SZ).rdb"
  docker cp "$c:$src" "$dest.partial"
  if [ "$(head -c 5 "$dest.partial")" != "REDIS" ]; then
    rm -f "$dest.partial"
    log "copy of $c:$src is not an RDB file"
    exit 1
  fi
  mv "$dest.partial" "$dest"
  who=$c
  [ "$c" = "$name" ] || who="$name (task $c)"
  log "copied $who:$src to $dest ($(stat -c %s "$dest") bytes)"
done
