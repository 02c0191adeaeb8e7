#!/usr/bin/env bash
# `npm run bench -- [options]`: the end-to-end benchmark (bench/run.ts, see bench/README.md).
# Makes sure RabbitMQ, PostgreSQL and Redis run and node_modules is current, builds the bundles
# the image runs (the bench runs those), then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
node scripts/build.mjs >&2
exec npx tsx bench/run.ts "$@"
