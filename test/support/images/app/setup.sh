# Sample app (test/support/sample-app) on Debian's Node.js 18 with psql + redis-cli; runs as
# uid/gid 10001 (the config's default app user), owns nothing it could rewrite.
groupadd -g 10001 app
useradd -u 10001 -g 10001 -d /nonexistent -s /usr/sbin/nologin app
chown -R root:root /app
chmod 755 /app
chmod 644 /app/server.js /app/dist/migrate.js
chmod 755 /app/dist
