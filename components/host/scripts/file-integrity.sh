#!/usr/bin/env bash
# Step "file-integrity": changes to system files become visible (lynis FINT-4350, PKGS-7370;
# CIS 1.3 filesystem integrity checking). Two tools, a documented choice:
#   AIDE (Debian's aide + aide-common): a database of hashes and attributes of /etc, /usr,
#     /boot and the other system paths, checked daily by aide-common's cron job/timer, which
#     reports every added, removed or changed file. Data that changes by design is excluded
#     (Docker's state, the app storage and logs). The database is created once, on the first
#     run, after every other step (this step runs last), so it records the hardened state;
#     later deploys that change system files show up in the next daily report, as they should.
#   debsums: checks installed package files against the packages' own checksums (weekly), which
#     catches a modified binary even where AIDE's database was taken after the change.
# Needs: LG_STORAGE_PATH LG_LOG_DIR
set -euo pipefail
: "${LG_STORAGE_PATH:?}" "${LG_LOG_DIR:?}"
ensure_pkgs aide aide-common debsums
install_file /etc/aide/aide.conf.d/99_launchgate 0644 root:root <<CONF || true
# managed by launchgate (HardenedHost step "file-integrity"): data that changes by design
!/var/lib/docker(/|\$)
!/var/lib/containerd(/|\$)
!$LG_STORAGE_PATH(/|\$)
!$LG_LOG_DIR(/|\$)
CONF
# Debian's default `Checksums = H` computes every hash AIDE was built with (md5, sha1, sha256,
# sha512, rmd160, tiger, whirlpool, gost, ...): SHA-512 alone detects the same changes at a
# fraction of the cost (measured: ~30x faster database creation on the test VPS).
if ! grep -qx 'Checksums = sha512' /etc/aide/aide.conf; then
  sed -i -E 's/^Checksums[[:space:]]*=.*/Checksums = sha512/' /etc/aide/aide.conf
  grep -qx 'Checksums = sha512' /etc/aide/aide.conf || { log "cannot set Checksums in /etc/aide/aide.conf"; exit 1; }
  log "AIDE checksums: sha512"
fi
if ! grep -qx 'CRON_CHECK=weekly' /etc/default/debsums 2>/dev/null; then
  printf '# managed by launchgate (HardenedHost step "file-integrity")\nCRON_CHECK=weekly\n' |
    install_file /etc/default/debsums 0644 root:root || true
fi
if [ ! -s /var/lib/aide/aide.db ]; then
  log "creating the AIDE database (first run only)"
  aideinit -y -f >/dev/null
  log "created /var/lib/aide/aide.db"
fi
