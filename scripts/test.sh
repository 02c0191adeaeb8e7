#!/usr/bin/env bash
# The test command (README): sets up everything the tests need on a fresh Debian machine with only
# Node 20, then type-checks, lints and runs every suite against real RabbitMQ, PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
bash scripts/ensure-test-tools.sh

echo "[test] type-check"
npx tsc -p tsconfig.json --noEmit
echo "[test] lint"
npx biome check .
echo "[test] suites"
mkdir -p .stack
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.stack/vitest.json "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(".stack/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
exit "$status"
