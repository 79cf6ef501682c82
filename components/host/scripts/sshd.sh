#!/usr/bin/env bash
# Step "sshd": the dev-sec ssh-baseline for the server, written where it wins and checked as sshd
# actually runs it.
#
# sshd keeps the FIRST value it reads for a keyword, and a `Match` block overrides the global
# value for the connections it matches. Debian's sshd_config includes sshd_config.d/*.conf on its
# first line, so:
#   1. our settings go to sshd_config.d/00-launchgate.conf (read first among the drop-ins);
#   2. every other drop-in or included file that sets a keyword we declare (cloud images and
#      installers ship e.g. `PermitRootLogin yes` in 01-*.conf or 50-cloud-init.conf) is
#      neutralised: renamed to `<name>.disabled-by-launchgate`, so the `*.conf` glob no longer
#      reads it, and logged; a drop-in with its own `Include` is neutralised too (unvetted);
#   3. in sshd_config itself, declared keywords before the first Include (read before ours) or
#      inside a Match block (override ours) are commented out with a `#launchgate-disabled# `
#      prefix, and logged;
#   4. the result is validated with `sshd -t`; if invalid, every file is put back and the step
#      fails; sshd is never signalled, so it keeps serving with the old config (no lock-out);
#   5. only a valid, changed config is reloaded (SIGHUP: running sessions stay up);
#   6. then the effective values (`sshd -T -C` for the deploy user, root and another user) are
#      compared with the declared ones; any difference fails the step loudly, naming the keyword,
#      the declared and the effective value. SSH stays up: the running config is valid, only not
#      what was declared.
# Needs: LG_DEPLOY_USER LG_SSHD_PORT LG_SSH_CIPHERS LG_SSH_KEX LG_SSH_MACS
# Optional: LG_PERMIT_OPEN (space-separated host:port the deploy user may forward to)
set -euo pipefail
: "${LG_DEPLOY_USER:?}" "${LG_SSHD_PORT:?}" "${LG_SSH_CIPHERS:?}" "${LG_SSH_KEX:?}" "${LG_SSH_MACS:?}"
ensure_pkgs openssh-server
main=/etc/ssh/sshd_config
dir=/etc/ssh/sshd_config.d
ours=$dir/00-launchgate.conf
legacy=$dir/10-launchgate.conf # where earlier versions wrote it
grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' "$main" ||
  { log "$main does not include sshd_config.d; refusing to guess"; exit 1; }

# Host keys: only ed25519 and RSA (>= 3072 bit); no DSA/ECDSA.
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
[ -f /etc/ssh/ssh_host_rsa_key ] || ssh-keygen -q -t rsa -b 4096 -N '' -f /etc/ssh/ssh_host_rsa_key

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
new=$work/00-launchgate.conf
{
  cat <<CONF
# managed by launchgate (HardenedHost step "sshd"); edits are overwritten, conflicting files
# elsewhere are disabled (see the step's log)
Port $LG_SSHD_PORT
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin no
AllowUsers $LG_DEPLOY_USER
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
AuthenticationMethods publickey
MaxAuthTries 2
MaxSessions 2
LoginGraceTime 30
StrictModes yes
IgnoreRhosts yes
HostbasedAuthentication no
KexAlgorithms $LG_SSH_KEX
Ciphers $LG_SSH_CIPHERS
MACs $LG_SSH_MACS
AllowAgentForwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
LogLevel VERBOSE
ClientAliveInterval 300
ClientAliveCountMax 2
TCPKeepAlive no
Compression no
UseDNS no
PrintMotd no
Banner /etc/issue.net
DebianBanner no
CONF
  # Match blocks end only at the next Match or end of file: keep this last.
  if [ -n "${LG_PERMIT_OPEN:-}" ]; then
    printf '\n# DB admin tunnel: the deploy user may forward locally, only to these destinations\n'
    printf 'Match User %s\n  AllowTcpForwarding local\n  PermitOpen %s\n' "$LG_DEPLOY_USER" "$LG_PERMIT_OPEN"
  fi
} >"$new"

# Declared keywords (lower case), global and in our Match block.
keywords=$(awk '!/^[[:space:]]*(#|$)/ && tolower($1) != "match" { print tolower($1) }' "$new" | sort -u)
# ChallengeResponseAuthentication is sshd's deprecated alias of KbdInteractiveAuthentication.
declared_in() { # FILE: the declared keywords (and Include) FILE sets, comma-separated; empty if none
  awk -v kws="$keywords" 'BEGIN { n = split(kws, a, "\n"); for (i = 1; i <= n; i++) k[a[i]] = 1
      if ("kbdinteractiveauthentication" in k) k["challengeresponseauthentication"] = 1 }
    !/^[[:space:]]*(#|$)/ && (tolower($1) in k || tolower($1) == "include") { printf "%s%s", sep, $1; sep = "," }' "$1"
}

# Undo log: every change below is recorded so a config sshd rejects can be rolled back whole.
undo=$work/undo
: >"$undo"
changed=0
rollback() {
  local op a b
  while IFS='|' read -r op a b; do
    case "$op" in
      mv) mv -f "$a" "$b" ;;
      rm) rm -f "$a" ;;
    esac
  done < <(tac "$undo")
}

# 2. Included files (in the order sshd reads them) that set what we declare.
while IFS= read -r pattern; do
  case "$pattern" in /*) ;; *) pattern=/etc/ssh/$pattern ;; esac # sshd resolves relative to /etc/ssh
  for f in $pattern; do # the glob is sshd's own Include pattern
    [ -f "$f" ] || continue
    [ "$f" = "$ours" ] && continue
    [ "$f" = "$legacy" ] && continue
    found=$(declared_in "$f")
    if [ -n "$found" ]; then
      mv -f "$f" "$f.disabled-by-launchgate"
      printf 'mv|%s|%s\n' "$f.disabled-by-launchgate" "$f" >>"$undo"
      log "neutralised $f (sets $found): renamed to $f.disabled-by-launchgate"
      changed=1
    fi
  done
done < <(awk 'tolower($1) == "include" { for (i = 2; i <= NF; i++) print $i }' "$main")

# 3. The main file: declared keywords read before ours (before the first Include) or in a Match.
main_new=$work/sshd_config
awk -v kws="$keywords" 'BEGIN { n = split(kws, a, "\n"); for (i = 1; i <= n; i++) k[a[i]] = 1
    if ("kbdinteractiveauthentication" in k) k["challengeresponseauthentication"] = 1 }
  { w = tolower($1) }
  w == "include" { seen_include = 1 }
  w == "match" { in_match = 1 }
  !/^[[:space:]]*(#|$)/ && (w in k) && (!seen_include || in_match) { print "#launchgate-disabled# " $0; next }
  { print }' "$main" >"$main_new"
if ! cmp -s "$main" "$main_new"; then
  cp -p "$main" "$work/sshd_config.orig"
  cat "$main_new" >"$main"
  printf 'mv|%s|%s\n' "$work/sshd_config.orig" "$main" >>"$undo"
  log "neutralised in $main: $(diff "$work/sshd_config.orig" "$main" | sed -n 's/^> #launchgate-disabled# //p' | paste -sd ';' -)"
  changed=1
fi

# 1. Our drop-in (and the legacy one gone).
if ! { [ -f "$ours" ] && cmp -s "$new" "$ours" && [ "$(stat -c '%a %U:%G' "$ours")" = "600 root:root" ]; }; then
  if [ -f "$ours" ]; then
    cp -p "$ours" "$work/ours.orig"
    printf 'mv|%s|%s\n' "$work/ours.orig" "$ours" >>"$undo"
  else
    printf 'rm|%s|\n' "$ours" >>"$undo"
  fi
  install -m 0600 -o root -g root "$new" "$ours"
  log "wrote $ours"
  changed=1
fi
if [ -f "$legacy" ]; then
  cp -p "$legacy" "$work/legacy.orig"
  rm -f "$legacy"
  printf 'mv|%s|%s\n' "$work/legacy.orig" "$legacy" >>"$undo"
  log "removed $legacy (moved to $ours)"
  changed=1
fi

# 4. Validate everything together.
if ! errors=$(sshd -t 2>&1); then
  if [ "$changed" = 1 ]; then
    rollback
    log "sshd -t rejected the new config; previous config restored, sshd not reloaded:"
  else
    log "sshd -t rejects the current config (nothing was changed by this step):"
  fi
  printf '%s\n' "$errors" >&2
  exit 1
fi

# 5. Reload only what changed.
if [ "$changed" = 1 ]; then
  if have_systemd; then
    systemctl reload ssh
  elif [ -s /run/sshd.pid ]; then
    kill -HUP "$(cat /run/sshd.pid)"
  else
    log "sshd pid unknown; config takes effect at its next start"
  fi
  # sshd re-execs on SIGHUP; finish only when it answers again, so the next step's connection
  # does not race the restart (bounded: a failure here is reported, not waited on forever).
  wait_for 30 ssh-keyscan -T 2 -p "$LG_SSHD_PORT" 127.0.0.1
  log "reloaded sshd"
fi

# 6. Effective values, per kind of connection, against the declared ones.
# `sshd -T` does not print DebianBanner (a Debian patch); it is checked in the file only.
declared() { # SECTION(global|match): "keyword value" lines, keyword lower case, sorted
  awk -v want="$1" 'tolower($1) == "match" { section = "match"; next }
    !/^[[:space:]]*(#|$)/ && (section == "" ? "global" : section) == want && tolower($1) != "debianbanner" {
      k = tolower($1); $1 = ""; sub(/^ +/, ""); print k " " $0 }' "$new" | sort
}
# Options on the running daemon's command line (`-o`, `-f`; e.g. SSHD_OPTS in /etc/default/ssh)
# override every file: they are part of what runs, so they are part of the check.
daemon_opts=()
if [ -s /run/sshd.pid ] && [ -r "/proc/$(cat /run/sshd.pid)/cmdline" ]; then
  mapfile -d '' -t argv <"/proc/$(cat /run/sshd.pid)/cmdline"
  for ((i = 1; i < ${#argv[@]}; i++)); do
    case "${argv[$i]}" in
      -o | -f) daemon_opts+=("${argv[$i]}" "${argv[$((i + 1))]:-}") && i=$((i + 1)) ;;
      -o* | -f*) daemon_opts+=("${argv[$i]}") ;;
    esac
  done
fi
mismatch=0
check_effective() { # USER ADDR
  local spec="user=$1,host=launchgate-check.invalid,addr=$2" expect eff report
  expect=$(declared global)
  if [ "$1" = "$LG_DEPLOY_USER" ] && [ -n "${LG_PERMIT_OPEN:-}" ]; then
    # Our Match block overrides the global values for the deploy user.
    expect=$({ declared match | sed 's/^/M /'; declared global | sed 's/^/G /'; } |
      awk '$1 == "M" { m[$2] = 1 } $1 == "M" || !($2 in m) { $1 = ""; sub(/^ +/, ""); print }' | sort)
  fi
  eff=$(sshd -T "${daemon_opts[@]}" -C "$spec" 2>&1) || { log "sshd -T -C $spec failed: $eff"; mismatch=1; return; }
  # One pass: per declared keyword, the sorted values declared vs. effective ("|"-joined).
  report=$(awk -v spec="$spec" '
    function add(a, k, v) { if (k in a) a[k] = a[k] "|" v; else a[k] = v }
    FNR == 1 { part++ }
    { k = $1; $1 = ""; sub(/^ +/, ""); if (part == 1) add(want, k, $0); else add(got, k, $0) }
    END { for (k in want) { g = (k in got) ? got[k] : "<unset>"; if (want[k] != g)
      printf "EFFECTIVE sshd config differs for %s: %s declared \"%s\", effective \"%s\"\n", spec, k, want[k], g } }
  ' <(printf '%s\n' "$expect") <(printf '%s\n' "$eff" | sort))
  if [ -n "$report" ]; then
    while IFS= read -r line; do log "$line"; done <<<"$report"
    mismatch=1
  fi
}
check_effective "$LG_DEPLOY_USER" 192.0.2.10
check_effective root 192.0.2.11
check_effective launchgate-nobody 192.0.2.12
if [ "$mismatch" = 1 ]; then
  log "sshd runs with values other than the declared ones (see above); SSH stays up, fix the source named above"
  exit 1
fi
