# Debian's nginx 1.22 shaped like the official nginx image: /etc/nginx/conf.d/*.conf is the site
# config (no Debian default site), logs go to the container's stdout/stderr, user nginx exists.
rm -f /etc/nginx/sites-enabled/default
groupadd -r -g 101 nginx 2>/dev/null || true
useradd -r -u 101 -g nginx -d /nonexistent -s /usr/sbin/nologin nginx 2>/dev/null || true
mkdir -p /etc/nginx/conf.d /var/cache/nginx /var/log/nginx
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log
