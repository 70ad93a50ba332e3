#!/usr/bin/env bash
# `npm run demo`: installs what is needed and runs the order → warehouse demo on a real broker
# (`npm run demo -- --broker kafka|rocketmq` for the others; the broker kit installs or fetches the broker).
set -euo pipefail
cd "$(dirname "$0")/.."
# Install when node_modules is missing or older than what the demo needs (a fresh clone, or a pull that added
# packages).
if [ ! -d node_modules ] || [ ! -e node_modules/inversify ] || [ ! -e node_modules/@lossless/example-rabbitmq ]; then
  # npm install from the lockfile, not npm ci: see scripts/test.sh.
  npm install --no-audit --no-fund
fi
exec node scripts/run-ts.mjs scripts/demo.ts "$@"
