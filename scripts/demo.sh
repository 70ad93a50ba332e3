#!/usr/bin/env bash
# `npm run demo`: installs what is needed and runs the order → warehouse demo.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
node scripts/run-ts.mjs scripts/demo.ts "$@"
