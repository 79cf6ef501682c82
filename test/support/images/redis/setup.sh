# Debian's Redis 7.0 shaped like the official redis image: user redis uid/gid 999, WORKDIR /data.
groupmod -g 999 redis
usermod -u 999 -g 999 redis
mkdir -p /data
chown -R redis:redis /data /var/lib/redis /var/log/redis
