#!/usr/bin/env bash
# Tools the test suites call besides the services: Chromium for the browser tests, Debian's
# docker-compose 1.29 (a second, real validator of the compose files; only its Python packages, no
# Docker engine), and the third-party servers the appliance ships that the tests run for real:
# nginx, Prometheus (with promtool) and Alertmanager (with amtool). Tests start their own instances
# on free ports; the packages' system services are never started.
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
updated=0
install() {
  echo "[test-tools] installing $*" >&2
  if [ "$updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    updated=1
  fi
  # Without systemd a package's "start the service" step can fail the install (and nginx would take
  # port 80): deny service starts for the duration (policy-rc.d exit 101).
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy" && added=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  if [ "$added" -eq 1 ]; then as_root rm -f "$policy"; fi
}
missing=()
command -v docker-compose >/dev/null || missing+=(docker-compose)
# Debian's Chromium for the browser tests (driven by playwright-core; no browser download).
command -v chromium >/dev/null || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
# The nginx image's entrypoint renders its config with envsubst and makes a certificate with openssl.
command -v envsubst >/dev/null || missing+=(gettext-base)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then install "${missing[@]}"; fi
