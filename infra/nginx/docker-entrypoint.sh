#!/bin/sh
# Renders /etc/nginx/nginx.conf from the template and makes sure a certificate exists, then runs
# nginx in the foreground. Every step is idempotent: a restart changes nothing that is in place.
#
# `docker-entrypoint.sh render` stops after rendering (the test suite compares its output with the
# TypeScript renderer's); SB_NGINX_TEMPLATE, SB_NGINX_CONF and SB_NGINX_GENERATE_CERT relocate the
# files for that.
set -eu

TEMPLATE=${SB_NGINX_TEMPLATE:-/etc/nginx/switchboard/nginx.conf.template}
# The container's root file system is read-only: the rendered config, temp files and pid live in
# a prefix on the /tmp tmpfs.
PREFIX=${SB_NGINX_PREFIX:-/tmp/nginx}
CONF=${SB_NGINX_CONF:-$PREFIX/nginx.conf}
GENERATE_CERT=${SB_NGINX_GENERATE_CERT:-/usr/local/bin/switchboard-generate-self-signed}
CERT_DIR=${NGINX_CERT_DIR:-/etc/nginx/certs}

# Defaults for the compose network; each can be overridden from the environment.
: "${NGINX_HTTP_LISTEN:=80}"
: "${NGINX_HTTPS_LISTEN:=443}"
: "${NGINX_HTTPS_PORT_SUFFIX:=}"
: "${NGINX_SERVER_NAME:=localhost}"
: "${NGINX_MIME_TYPES:=/etc/nginx/mime.types}"
: "${NGINX_ACCESS_LOG:=/dev/stdout}"
: "${NGINX_RESOLVER:=127.0.0.11}"
: "${NGINX_TLS_CERT:=$CERT_DIR/fullchain.pem}"
: "${NGINX_TLS_KEY:=$CERT_DIR/privkey.pem}"
: "${NGINX_API_RATE:=20r/s}"
: "${NGINX_API_BURST:=40}"
: "${NGINX_LOGIN_RATE:=10r/m}"
: "${NGINX_LOGIN_BURST:=5}"
: "${NGINX_API_MAX_BODY:=25m}"
: "${NGINX_WEBHOOK_MAX_BODY:=5m}"
: "${NGINX_WEB_UPSTREAM:=ingress-web:8080}"
: "${NGINX_TELEGRAM_UPSTREAM:=ingress-telegram:8080}"
: "${NGINX_SLACK_UPSTREAM:=ingress-slack:8080}"
: "${NGINX_WECOM_UPSTREAM:=ingress-wecom:8080}"
: "${NGINX_DINGTALK_UPSTREAM:=ingress-dingtalk:8080}"
: "${NGINX_ADMIN_UPSTREAM:=admin:8090}"
: "${NGINX_ADMIN_AUTH_URL:=http://admin:8090/auth}"
: "${NGINX_RABBITMQ_UPSTREAM:=rabbitmq:15672}"
: "${NGINX_KIBANA_UPSTREAM:=kibana:5601}"
: "${NGINX_ALERTMANAGER_UPSTREAM:=alertmanager:9093}"
export NGINX_HTTP_LISTEN NGINX_HTTPS_LISTEN NGINX_HTTPS_PORT_SUFFIX NGINX_MIME_TYPES NGINX_ACCESS_LOG \
  NGINX_RESOLVER NGINX_TLS_CERT NGINX_TLS_KEY NGINX_API_RATE NGINX_API_BURST NGINX_LOGIN_RATE \
  NGINX_LOGIN_BURST NGINX_API_MAX_BODY NGINX_WEBHOOK_MAX_BODY NGINX_WEB_UPSTREAM \
  NGINX_TELEGRAM_UPSTREAM NGINX_SLACK_UPSTREAM NGINX_WECOM_UPSTREAM NGINX_DINGTALK_UPSTREAM \
  NGINX_ADMIN_UPSTREAM NGINX_ADMIN_AUTH_URL NGINX_RABBITMQ_UPSTREAM NGINX_KIBANA_UPSTREAM \
  NGINX_ALERTMANAGER_UPSTREAM

# A self-signed certificate only when none is mounted, so a real one is never overwritten.
if { [ ! -s "$NGINX_TLS_CERT" ] || [ ! -s "$NGINX_TLS_KEY" ]; } && [ -d "$(dirname "$NGINX_TLS_CERT")" ] && [ ! -w "$(dirname "$NGINX_TLS_CERT")" ]; then
  echo "nginx: no certificate at $NGINX_TLS_CERT / $NGINX_TLS_KEY and that folder is read-only;" \
    "put fullchain.pem and privkey.pem in infra/nginx/certs (infra/nginx/README.md) or run scripts/install.sh" >&2
  exit 78
fi
"$GENERATE_CERT" "$NGINX_TLS_CERT" "$NGINX_TLS_KEY" "$NGINX_SERVER_NAME"

# Substitute only the template's own ${NGINX_*} names; nginx's $variables stay as written.
VARS=$(grep -o '\${NGINX_[A-Z0-9_]*}' "$TEMPLATE" | sort -u | tr '\n' ' ')
mkdir -p "$(dirname "$CONF")"
envsubst "$VARS" < "$TEMPLATE" > "$CONF"
if [ "${1:-}" = render ]; then exit 0; fi
mkdir -p "$PREFIX/temp"
# `include admin-allowlist.d/*.conf` is relative to the config's folder; the operator's files are
# mounted at /etc/nginx/admin-allowlist.d.
ln -sfn /etc/nginx/admin-allowlist.d "$PREFIX/admin-allowlist.d"

nginx -p "$PREFIX/" -c "$CONF" -g "pid $PREFIX/nginx.pid;" -t -q
exec nginx -p "$PREFIX/" -c "$CONF" -g "daemon off; pid $PREFIX/nginx.pid;"
