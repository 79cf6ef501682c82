# Debian's PostgreSQL 15 shaped like the official postgres image: user postgres is uid/gid 999,
# no packaged cluster, PGDATA=/var/lib/postgresql/data initialised by docker-entrypoint.sh.
rm -rf /etc/postgresql/15/main /var/lib/postgresql/15
groupmod -g 999 postgres
usermod -u 999 -g 999 postgres
mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d
chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 3777 /var/run/postgresql
chmod 700 /var/lib/postgresql/data
