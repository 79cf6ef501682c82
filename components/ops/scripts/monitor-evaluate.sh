#!/usr/bin/env bash
# Pure threshold evaluation, testable alone: reads probe measurements as "key=value" lines on
# stdin and prints one "level<TAB>check<TAB>message" line per check (level: ok | warn | crit).
# No I/O besides stdin/stdout; thresholds come from the environment:
#   LG_CPU_WARN LG_CPU_CRIT LG_MEM_WARN LG_MEM_CRIT LG_DISK_WARN LG_DISK_CRIT   (percent)
#   LG_ERR_WARN LG_ERR_CRIT (percent of 5xx)  LG_ERR_MIN_REQUESTS (below: too few to judge)
#   LG_BACKUP_MAX_AGE_HOURS
# Keys: container.<name>=<docker health or state>  service.<name>=<running>/<desired>|unknown
#   (a Swarm service's tasks, as a manager counts them)  http.<name>=<status code, 000 = no answer>
#   backup.age_hours=<hours|none>  drill.ok=<true|false|none>  cpu.percent= memory.percent=
#   disk.percent=  errors.requests=<n> with errors.percent=<p>
set -euo pipefail

# ge A B: A >= B as decimals.
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
out() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }

# level_for VALUE WARN CRIT
level_for() {
  if ge "$1" "$3"; then echo crit; elif ge "$1" "$2"; then echo warn; else echo ok; fi
}

threshold() { # CHECK VALUE WARN CRIT LABEL
  local level
  level=$(level_for "$2" "$3" "$4")
  out "$level" "$1" "$5 $2% (warn ≥ $3%, crit ≥ $4%)"
}

declare -A m=()
while IFS='=' read -r k v; do
  [ -n "$k" ] || continue
  m[$k]=$v
done

for k in $(printf '%s\n' "${!m[@]}" | LC_ALL=C sort); do
  v=${m[$k]}
  case $k in
    container.*)
      case $v in
        healthy) out ok "$k" "${k#container.} is healthy" ;;
        starting) out warn "$k" "${k#container.} is starting" ;;
        running) out warn "$k" "${k#container.} runs without a healthcheck" ;;
        *) out crit "$k" "${k#container.} is $v" ;;
      esac
      ;;
    service.*)
      if [ "$v" = unknown ]; then
        out warn "$k" "${k#service.}'s replicas cannot be counted from this node (not a Swarm manager)"
      elif [[ $v =~ ^([0-9]+)/([0-9]+)$ ]]; then
        running=${BASH_REMATCH[1]} desired=${BASH_REMATCH[2]}
        if [ "$desired" -eq 0 ]; then
          out crit "$k" "${k#service.} has no tasks (service missing or scaled to 0)"
        elif [ "$running" -eq 0 ]; then
          out crit "$k" "${k#service.} has 0 of $desired tasks running"
        elif [ "$running" -lt "$desired" ]; then
          out warn "$k" "${k#service.} has $running of $desired tasks running"
        else
          out ok "$k" "${k#service.} has $running of $desired tasks running"
        fi
      else
        out crit "$k" "${k#service.} replicas unreadable: $v"
      fi
      ;;
    http.*)
      if [[ $v =~ ^[23][0-9][0-9]$ ]]; then
        out ok "$k" "${k#http.} answered $v"
      elif [ "$v" = 000 ]; then
        out crit "$k" "${k#http.} did not answer"
      else
        out crit "$k" "${k#http.} answered $v"
      fi
      ;;
    backup.age_hours)
      if [ "$v" = none ]; then
        out crit backup.freshness "no database backup found"
      elif ge "$v" "$LG_BACKUP_MAX_AGE_HOURS"; then
        out crit backup.freshness "newest backup is ${v} h old (max ${LG_BACKUP_MAX_AGE_HOURS} h)"
      else
        out ok backup.freshness "newest backup is ${v} h old"
      fi
      ;;
    drill.ok)
      case $v in
        true) out ok backup.drill "last restore drill passed" ;;
        none) out warn backup.drill "no restore drill result yet" ;;
        *) out crit backup.drill "last restore drill FAILED" ;;
      esac
      ;;
    cpu.percent) threshold cpu "$v" "$LG_CPU_WARN" "$LG_CPU_CRIT" "CPU" ;;
    memory.percent) threshold memory "$v" "$LG_MEM_WARN" "$LG_MEM_CRIT" "memory" ;;
    disk.percent) threshold disk "$v" "$LG_DISK_WARN" "$LG_DISK_CRIT" "disk" ;;
    errors.percent)
      requests=${m[errors.requests]:-0}
      if [ "$requests" -lt "${LG_ERR_MIN_REQUESTS:-20}" ]; then
        out ok errors "too few requests to judge ($requests)"
      else
        threshold errors "$v" "$LG_ERR_WARN" "$LG_ERR_CRIT" "5xx error rate over $requests requests:"
      fi
      ;;
    errors.requests) ;;
    *) out warn "probe.$k" "unknown measurement $k=$v" ;;
  esac
done
