#!/usr/bin/env bash
# Probe (systemd timer, every LG_PROBE_INTERVAL s): measures, lets monitor-evaluate.sh decide,
# and posts new, changed, repeated (every LG_REALERT_MINUTES) and resolved alerts to the webhook
# as one JSON payload: {source, host, at, text, alerts: [{check, level, message}]}.
# The webhook URL is read from LG_WEBHOOK_FILE (root-only) and handed to curl through a config
# on a pipe, so it never appears on a command line; no file means alerts go to the journal only.
# Alert state lives in LG_STATE_DIR/alerts/<check> ("level epoch"); it and the access-log offset
# only advance after a successful delivery, so a failed post is retried on the next run.
# Needs: LG_PROBE_CONTAINERS ("name=workload ...": lg_container's workloads, see lib-workload.sh) LG_PUBLIC_URL LG_BACKUP_DIR LG_DISK_PATH
#   LG_ACCESS_LOG LG_STATE_DIR LG_WEBHOOK_FILE LG_EVALUATE LG_REALERT_MINUTES LG_HOST_LABEL
#   LG_HTTP_TIMEOUT LG_INSECURE_TLS LG_PLACEMENT, and the thresholds monitor-evaluate.sh reads
#   (+ lib-common.sh, lib-workload.sh).
# `monitor-probe.sh --print`: prints the measurements and their evaluation and exits (no alert,
# no state change): what an operator (or a test) runs to see what the timer judges.
set -euo pipefail
umask 077
mkdir -p "$LG_STATE_DIR/alerts"
exec 9>"$LG_STATE_DIR/probe.lock"
if ! flock -n 9; then
  log "previous probe still running; skipping"
  exit 0
fi

measure() {
  local pair name c s code newest age
  for pair in ${LG_PROBE_CONTAINERS:-}; do
    name=${pair%%=*} c=${pair#*=}
    if [ "${LG_PLACEMENT:-single-host}" = swarm ]; then
      # A service: its replicas as a manager sees them, and the health of its task on this node
      # (if it has one here: tasks on other nodes are judged by their replicas only).
      echo "service.$name=$(lg_service_replicas "$c")"
      c=$(lg_container "$c" 2>/dev/null) || continue
    elif ! c=$(lg_container "$c" 2>/dev/null); then
      # An app with no running container (its workload is `app:<name>`).
      echo "container.$name=missing"
      continue
    fi
    s=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$c" 2>/dev/null) || s=missing
    echo "container.$name=$s"
  done
  if [ -n "${LG_PUBLIC_URL:-}" ]; then
    local tls=()
    [ "${LG_INSECURE_TLS:-false}" != true ] || tls=(--insecure)
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${tls[@]}" --max-time "${LG_HTTP_TIMEOUT:-10}" "$LG_PUBLIC_URL" 2>/dev/null) || true
    echo "http.public=${code:-000}"
  fi
  if [ -n "${LG_BACKUP_DIR:-}" ]; then
    newest=$(find "$LG_BACKUP_DIR" -type f -name '*.dump' -printf '%T@\n' 2>/dev/null | sort -rn | head -1)
    if [ -z "$newest" ]; then
      echo "backup.age_hours=none"
    else
      age=$(awk -v t="$newest" -v now="$(date +%s)" 'BEGIN { printf "%.1f", (now - t) / 3600 }')
      echo "backup.age_hours=$age"
    fi
    local drill="$LG_BACKUP_DIR/restore-drill.json"
    if [ ! -f "$drill" ]; then
      echo "drill.ok=none"
    elif grep -q '^{"ok":true' "$drill"; then
      echo "drill.ok=true"
    else
      echo "drill.ok=false"
    fi
  fi
  # CPU busy share over one second, from /proc/stat (idle + iowait count as idle).
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 1
  read -r -a b < <(grep '^cpu ' /proc/stat)
  awk -v a="${a[*]:1}" -v b="${b[*]:1}" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); t = 0
    for (i = 1; i <= n; i++) t += y[i] - x[i]
    idle = (y[4] - x[4]) + (y[5] - x[5])
    printf "cpu.percent=%.1f\n", (t > 0 ? 100 * (t - idle) / t : 0) }'
  awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 }
    END { printf "memory.percent=%.1f\n", (t > 0 ? 100 * (t - a) / t : 0) }' /proc/meminfo
  df -P "${LG_DISK_PATH:-/}" | awk 'NR == 2 { sub("%", "", $5); print "disk.percent=" $5 }'
  if [ -n "${LG_ACCESS_LOG:-}" ] && [ -r "$LG_ACCESS_LOG" ]; then
    error_rate
  fi
}

# 5xx share of the access-log lines written since the previous probe (offset kept in the state
# dir; a shrunken file means it was rotated: start over). nginx/Caddy common or combined format
# (status after the quoted request) and JSON lines ("status":NNN) are understood.
error_rate() {
  local off_file="$LG_STATE_DIR/access-log.offset" off size
  off=$(cat "$off_file" 2>/dev/null || echo 0)
  size=$(stat -c %s "$LG_ACCESS_LOG")
  [ "$size" -ge "$off" ] || off=0
  tail -c +"$((off + 1))" "$LG_ACCESS_LOG" | head -c "$((size - off))" | awk '
    {
      s = ""
      if (substr($0, 1, 1) == "{") {
        if (match($0, /"status": *[0-9]+/)) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s) }
      } else {
        split($0, q, "\""); split(q[3], f, " "); s = f[1]
      }
      if (s !~ /^[0-9][0-9][0-9]$/) next
      n++
      if (s + 0 >= 500) e++
    }
    END { printf "errors.requests=%d\nerrors.percent=%.2f\n", n, (n > 0 ? 100 * e / n : 0) }'
  echo "$size" >"$off_file.next"
}

# The access-log offset and the alert state advance together, after a successful delivery: a
# failed post re-reads the same log lines next time instead of losing their errors.
commit_state() {
  local u state
  for u in "${updates[@]}"; do
    state=${u#*|}
    if [ "${u%%|*}" = rm ]; then rm -f "$state"; else printf '%s\n' "${u%%|*}" >"$state"; fi
  done
  if [ -f "$LG_STATE_DIR/access-log.offset.next" ]; then
    mv "$LG_STATE_DIR/access-log.offset.next" "$LG_STATE_DIR/access-log.offset"
  fi
}

measurements=$(measure)
evaluation=$("$LG_EVALUATE" <<<"$measurements")
if [ "${1:-}" = --print ]; then
  printf '%s\n' "$measurements" "--" "$evaluation"
  rm -f "$LG_STATE_DIR/access-log.offset.next"
  exit 0
fi
now=$(date +%s)
alerts=() updates=() text=""
while IFS=$'\t' read -r level check message; do
  [ -n "$check" ] || continue
  state="$LG_STATE_DIR/alerts/$(tr -c 'A-Za-z0-9._-' '_' <<<"$check")"
  prev_level="" prev_at=0
  [ ! -f "$state" ] || read -r prev_level prev_at <"$state"
  if [ "$level" = ok ]; then
    [ -n "$prev_level" ] || continue
    level=resolved
    updates+=("rm|$state")
  elif [ "$level" != "$prev_level" ] || [ $((now - prev_at)) -ge $((LG_REALERT_MINUTES * 60)) ]; then
    updates+=("$level $now|$state")
  else
    continue
  fi
  alerts+=("{\"check\":$(json_str "$check"),\"level\":\"$level\",\"message\":$(json_str "$message")}")
  text+="[$level] $check: $message"$'\n'
done <<<"$evaluation"

if [ "${#alerts[@]}" -eq 0 ]; then
  commit_state
  exit 0
fi
payload=$(printf '{"source":"launchgate","host":%s,"at":"%s","text":%s,"alerts":[%s]}' \
  "$(json_str "$LG_HOST_LABEL")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(json_str "${text%$'\n'}")" "$(IFS=,; echo "${alerts[*]}")")
log "alerts: ${text//$'\n'/; }"

url=""
[ ! -s "$LG_WEBHOOK_FILE" ] || url=$(head -n1 "$LG_WEBHOOK_FILE")
if [ -n "$url" ]; then
  url=${url//\\/\\\\}
  if ! curl -fsS --max-time 10 -o /dev/null -H 'Content-Type: application/json' --data-binary @- \
    -K <(printf 'url = "%s"\n' "${url//\"/\\\"}") <<<"$payload"; then
    log "webhook delivery failed; alerts stay pending for the next probe"
    exit 1
  fi
else
  log "no alert webhook configured; alerts logged only"
fi
commit_state
