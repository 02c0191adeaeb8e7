#!/usr/bin/env bash
# Installs npm dependencies when node_modules is missing or older than the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
# NOTE: `npm install`, not `npm ci`: the registry this machine reaches lacks @biomejs/cli-* builds for
# other platforms, so the lockfile cannot list them and `npm ci` refuses it as out of sync. With the
# lockfile present `npm install` installs the locked versions all the same.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] npm install (locked versions)"
  npm install --no-audit --no-fund
fi
