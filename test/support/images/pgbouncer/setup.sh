# Debian trixie's PgBouncer (1.24: max_prepared_statements needs >= 1.21; bookworm has 1.18 and
# bookworm-backports none); config either uploaded to /etc/pgbouncer/ or generated from env by
# docker-entrypoint.sh (edoburu/pgbouncer-style variables). Runs as user postgres.
mkdir -p /etc/pgbouncer /var/run/postgresql /var/log/postgresql
chown -R postgres:postgres /etc/pgbouncer /var/run/postgresql /var/log/postgresql
rm -f /etc/pgbouncer/pgbouncer.ini /etc/pgbouncer/userlist.txt
