#!/usr/bin/env bash
# Test image entrypoint modelled on the official redis image's: flags alone mean redis-server;
# started as root it chowns the working dir and drops to redis (uid 999).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$BASH_SOURCE" "$@"
fi
umask 0077
exec "$@"
