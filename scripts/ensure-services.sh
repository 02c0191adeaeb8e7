#!/usr/bin/env bash
# Makes sure RabbitMQ, PostgreSQL and Redis run on 127.0.0.1 with their standard ports, installing them
# from Debian's packages when missing, and that the test role exists. Safe to run again: every step
# checks before it acts. Used by `npm test`, `npm run stack` and `npm run bench`.
set -euo pipefail

log() { printf '[ensure-services] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else log "need root for: $*"; return 1; fi; }
wait_port() {
  local port=$1 name=$2 deadline=$((SECONDS + ${3:-90}))
  until port_open "$port"; do
    if [ "$SECONDS" -ge "$deadline" ]; then log "$name did not open port $port in time"; return 1; fi
    sleep 0.5
  done
  log "$name is up on port $port"
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing $*"
  # Without systemd a package's post-install "start the service" step can fail the whole install;
  # deny it for the duration (policy-rc.d exit 101) and start the services ourselves below.
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy" && added=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  if [ "$added" -eq 1 ]; then as_root rm -f "$policy"; fi
}

# PostgreSQL
if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  [ -d "/etc/postgresql/$ver/main" ] || as_root pg_createcluster "$ver" main
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_port 5432 PostgreSQL
fi

# RabbitMQ
if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  wait_port 5672 RabbitMQ 180
  as_root rabbitmqctl await_startup >/dev/null 2>&1 || true
fi
# The management API (the console's queue depths and consumers): a plugin of rabbitmq-server.
if ! port_open 15672; then
  log "enabling RabbitMQ's management plugin"
  as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_port 15672 "RabbitMQ management" 60
fi

# Redis
if ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/switchboard.log
  wait_port 6379 Redis
fi

# The role tests and process mode use: password auth over TCP works whatever pg_hba says (trust or scram).
SQL="DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='sbtest') THEN CREATE ROLE sbtest LOGIN PASSWORD 'sbtest' CREATEDB; END IF; END\$\$;"
if ! PGPASSWORD=sbtest psql -h 127.0.0.1 -U sbtest -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  log "creating PostgreSQL role sbtest"
  if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
    # Through stdin: a -c argument would pass through su's shell, which expands the $$ quoting.
    printf '%s\n' "$SQL" | su postgres -c "psql -Atq" >/dev/null
  else
    psql -h 127.0.0.1 -U postgres -d postgres -Atqc "$SQL" >/dev/null
  fi
fi
log "RabbitMQ, PostgreSQL and Redis are ready"
