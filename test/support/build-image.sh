#!/usr/bin/env bash
# Builds a local container image without any registry: debootstrap a minimal Debian rootfs
# (bookworm, or the suite in LAUNCHGATE_DEBIAN_SUITE, e.g. trixie) with the given packages, run an optional setup script inside it, `docker import` it.
# The tag carries a content hash of (packages, setup script, this script), so an unchanged spec
# is never rebuilt.  Prints the image tag on stdout; progress goes to stderr.
#
# usage: build-image.sh NAME "pkg1,pkg2,..." [SETUP_SCRIPT] [DOCKER_IMPORT_CHANGE...]
#   DOCKER_IMPORT_CHANGE: Dockerfile-style lines passed to `docker import --change`, e.g. 'CMD ["redis-server"]'
set -euo pipefail
name=$1 packages=$2 setup=${3:-}
shift $(( $# >= 3 ? 3 : $# ))
mirror=${LAUNCHGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${LAUNCHGATE_DEBIAN_SUITE:-bookworm}
cache=${LAUNCHGATE_CACHE_DIR:-$HOME/.cache/launchgate}
here=$(cd "$(dirname "$0")" && pwd)

hash=$( { echo "$suite $packages"; [ -n "$setup" ] && cat "$setup"; printf '%s\n' "$@"; cat "$here/build-image.sh"; } | sha256sum | cut -c1-16)
tag="launchgate-test/$name:$hash"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi

mkdir -p "$cache/debs"
work=$(mktemp -d "${TMPDIR:-/tmp}/lg-rootfs-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "building $tag (debootstrap $suite: $packages)" >&2
start=$(date +%s)
debootstrap --variant=minbase --cache-dir="$cache/debs" --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
if [ -n "$setup" ]; then
  cp "$setup" "$work/rootfs/tmp/setup.sh"
  chroot "$work/rootfs" /bin/bash /tmp/setup.sh >&2
  rm -f "$work/rootfs/tmp/setup.sh"
fi
# Keep images small and free of build leftovers.
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"
changes=()
for c in "$@"; do changes+=(--change "$c"); done
tar -C "$work/rootfs" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
echo "built $tag in $(( $(date +%s) - start ))s" >&2
echo "$tag"
