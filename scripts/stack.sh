#!/usr/bin/env bash
# Process mode: starts RabbitMQ/PostgreSQL/Redis if needed, then every service as a local process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
exec npx tsx scripts/stack.ts "$@"
