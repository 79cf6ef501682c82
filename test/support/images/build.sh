#!/usr/bin/env bash
# Builds one test image from its spec directory test/support/images/<name>/ with ../build-image.sh:
#   packages   comma-separated Debian packages (one line)
#   suite      Debian suite to debootstrap (one word)                       (optional; bookworm)
#   setup.sh   run inside the rootfs (chroot) after debootstrap            (optional)
#   changes    `docker import --change` lines, one per line                (optional)
#   files/     copied into the rootfs at the same relative path, before setup.sh runs (optional)
#   extra-files  lines "SRC DEST": SRC relative to the repo root, copied to DEST in the rootfs (optional)
# The files are embedded into the generated setup script, so they are part of the content hash:
# an unchanged spec is never rebuilt. Prints the image tag (launchgate-test/<name>:<hash>).
#
# usage: test/support/images/build.sh NAME            build (or reuse) and print the tag
#        test/support/images/build.sh --tag-only NAME  print the tag this spec builds, build nothing
set -euo pipefail
tag_only=false
if [ "${1:-}" = --tag-only ]; then tag_only=true; shift; fi
name=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
spec="$here/$name"
[ -f "$spec/packages" ] || { echo "no image spec $spec/packages" >&2; exit 1; }
packages=$(tr -d ' \n' <"$spec/packages")
gen=$(mktemp "${TMPDIR:-/tmp}/lg-setup-$name.XXXXXX")
trap 'rm -f "$gen"' EXIT
embed() { # SRC DEST
  printf 'mkdir -p %q\nbase64 -d >%q <<"__LG_EOF__"\n' "$(dirname "$2")" "$2"
  base64 <"$1"
  printf '__LG_EOF__\nchmod %s %q\n' "$(stat -c %a "$1")" "$2"
}
{
  echo "set -euo pipefail"
  if [ -d "$spec/files" ]; then
    (cd "$spec/files" && find . -type f | LC_ALL=C sort) | while read -r f; do embed "$spec/files/$f" "/${f#./}"; done
  fi
  if [ -f "$spec/extra-files" ]; then
    grep -v '^\s*\(#\|$\)' "$spec/extra-files" | while read -r src dest; do embed "$repo/$src" "$dest"; done
  fi
  [ -f "$spec/setup.sh" ] && cat "$spec/setup.sh"
} >"$gen"
changes=()
if [ -f "$spec/changes" ]; then
  while IFS= read -r line; do [ -n "$line" ] && changes+=("$line"); done <"$spec/changes"
fi
suite=bookworm
if [ -f "$spec/suite" ]; then suite=$(tr -d ' \n' <"$spec/suite"); fi
export LAUNCHGATE_DEBIAN_SUITE=$suite
if $tag_only; then # same hash as build-image.sh computes
  hash=$( { echo "$suite $packages"; cat "$gen"; printf '%s\n' "${changes[@]}"; cat "$here/../build-image.sh"; } | sha256sum | cut -c1-16)
  echo "launchgate-test/$name:$hash"
  exit 0
fi
"$here/../build-image.sh" "$name" "$packages" "$gen" "${changes[@]}"
