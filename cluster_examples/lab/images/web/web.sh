#!/bin/sh
# Serve "web <version> <hostname>" on / and "ok" on /health; exit promptly on SIGTERM.
mkdir -p /www
echo "web ${WEB_VERSION} $(hostname)" > /www/index.html
echo ok > /www/health
httpd -f -p "${PORT:-80}" -h /www &
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait
