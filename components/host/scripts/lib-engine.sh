# shellcheck shell=bash
# The docker step's check of the engine it hardened (spliced into that step only, after lib.sh:
# a change here re-runs the docker step, not every hardening step).

# require_engine_api MIN: fails unless the local engine speaks Docker Engine API MIN (major.minor)
# or later; MIN is what the program was told (launchgate:host.engineApiVersion).
require_engine_api() {
  local min=$1 api have_major have_minor want_major want_minor
  api=$(docker version --format '{{.Server.APIVersion}}')
  IFS=. read -r have_major have_minor <<<"$api"
  IFS=. read -r want_major want_minor <<<"$min"
  if [ "$have_major" -lt "$want_major" ] || { [ "$have_major" -eq "$want_major" ] && [ "$have_minor" -lt "$want_minor" ]; }; then
    log "the engine speaks Docker Engine API $api, below launchgate:host.engineApiVersion $min; declare $api there or upgrade the engine"
    return 1
  fi
  log "engine API $api (at least $min)"
}
