#!/usr/bin/env bash
# Step "accounts": password and session policy for any account that ever gets a password (the
# deploy user has none: key-only SSH) — CIS 5.4/5.5, lynis AUTH-9230, AUTH-9262, AUTH-9286,
# SHLL-6220, DEB-0280:
#   login.defs: password ageing (max 365 days, min 1, warn 14) and SHA-crypt rounds bounds;
#   pam_pwquality for password strength (libpam-pwquality, via pam-auth-update);
#   pam_tmpdir: a private $TMPDIR per login session (libpam-tmpdir);
#   idle interactive shells end after 15 minutes (TMOUT, read-only).
set -euo pipefail
ensure_pkgs libpam-pwquality libpam-tmpdir
set_login_def() { # KEY VALUE: the one uncommented KEY line says VALUE (comments stay as they are)
  if [ "$(grep -cE "^$1[[:space:]]" /etc/login.defs)" != 1 ] || ! grep -qE "^$1[[:space:]]+$2\$" /etc/login.defs; then
    sed -i -E "/^$1[[:space:]]/d" /etc/login.defs
    printf '%s\t%s\n' "$1" "$2" >>/etc/login.defs
    log "login.defs $1 $2"
  fi
}
set_login_def PASS_MAX_DAYS 365
set_login_def PASS_MIN_DAYS 1
set_login_def PASS_WARN_AGE 14
set_login_def SHA_CRYPT_MIN_ROUNDS 500000
set_login_def SHA_CRYPT_MAX_ROUNDS 1000000
install_file /etc/profile.d/launchgate-session.sh 0644 root:root <<'PROFILE' || true
# managed by launchgate (HardenedHost step "accounts"): idle interactive shells end
TMOUT=900
readonly TMOUT
export TMOUT
PROFILE
