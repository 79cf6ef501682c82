#!/usr/bin/env bash
# Builds (or reuses, by content hash) the PostgreSQL 15 test image; prints its tag.
# Reusable by any test that needs a real PostgreSQL server: `tag=$(test/support/images/postgres/build.sh)`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../build-image.sh" postgres "$(tr -d '\n' <"$here/packages")" "$here/setup.sh" \
  'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  'ENV PGDATA=/var/lib/postgresql/data' \
  'ENTRYPOINT ["/usr/local/bin/lg-postgres-entrypoint"]'
