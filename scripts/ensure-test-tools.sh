#!/usr/bin/env bash
# Tools the test suites call besides the services: Chromium for the browser tests, and Debian's docker-compose 1.29 (a second, real
# validator of the compose files; only its Python packages, no Docker engine).
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v docker-compose >/dev/null; then
  echo "[test-tools] installing docker-compose (validator only)" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
# Debian's Chromium for the browser tests (driven by playwright-core; no browser download).
if ! command -v chromium >/dev/null; then
  echo "[test-tools] installing chromium" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
