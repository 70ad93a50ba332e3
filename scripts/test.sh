#!/usr/bin/env bash
# `npm test`: everything, from a fresh clone on a fresh machine. Installs dependencies, lints, type-checks, runs
# the unit tests (in-memory driver), brings up the real brokers through the broker kit (installing what is
# missing), runs the integration tests and the conformance suite of every adapter against them, the crash and
# node-fault cases on a replicated fixture of each broker, and ends with
# one summary line: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports
failed=0
failed_steps=()
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
  # Runs a step; a failure marks the run failed but later steps still run, so one report shows everything.
  if ! "$@"; then
    echo "!! step failed: $*"
    failed_steps+=("$*")
    failed=1
  fi
}

step "install dependencies"
# `npm install` from the lockfile rather than `npm ci`: with this registry's settings npm ci rejects the lockfile
# over optional platform packages (biome's) that npm install resolves to the same tree.
npm install --no-audit --no-fund || exit 1

step "lint and format check (biome)"
run npx biome check .

step "type-check and build (tsc -b)"
run npx tsc -b

step "type-check the tests too (tsc -p tsconfig.tests.json)"
run npx tsc -p tsconfig.tests.json

step "unit tests (no broker)"
run npx vitest run --project unit --reporter=default --reporter=json --outputFile.json=reports/unit.json

step "unit tests on Node 22 and 24 (binaries from the npm registry, under .lossless/node)"
run bash scripts/other-nodes.sh 22 24

if [ -z "${LOSSLESS_SKIP_BROKERS:-}" ]; then
  # The crash and node-fault cases on the replicated fixtures (T8 P4 F1 F2 and N1-N4 on RabbitMQ's 3 nodes,
  # Kafka's 3 nodes and RocketMQ's broker group; `npm run test:clusters` runs the whole catalog there) run
  # beside the single-node steps below: the clusters have ports and directories of their own, and most of
  # either side's time is spent waiting for brokers (failure detectors, revive scans, long polls).
  step "crash and node-fault cases on the replicated fixtures: started in the background (reports/clusters.log)"
  npx vitest run --project clusters --reporter=default --reporter=json --outputFile.json=reports/clusters.json \
    >reports/clusters.log 2>&1 &
  clusters_pid=$!

  step "integration tests against real brokers"
  run npx vitest run --project integration --reporter=default --reporter=json --outputFile.json=reports/integration.json

  step "RabbitMQ and Kafka conformance on Node 22 and 24"
  run bash scripts/other-nodes.sh --conformance 22 24

  step "crash and node-fault cases on the replicated fixtures (waiting for the background run)"
  clusters_rc=0
  wait "$clusters_pid" || clusters_rc=$?
  cat reports/clusters.log
  if [ "$clusters_rc" -ne 0 ]; then
    echo "!! step failed: the crash and node-fault cases on the replicated fixtures"
    failed_steps+=("vitest --project clusters")
    failed=1
  fi
fi

step "summary"
node scripts/summarize-tests.mjs reports/unit.json reports/unit-node22.json reports/unit-node24.json reports/integration.json \
  reports/conformance-node22.json reports/conformance-node24.json reports/clusters.json || failed=1
# Repeated here, at the end, so the last lines of a failed run say which step failed (a lint or type error
# scrolls far out of sight behind the broker tests).
for s in "${failed_steps[@]}"; do echo "!! failed step: $s"; done
[ "$failed" = 0 ] && echo "npm test: ok" || echo "npm test: FAILED"
exit $failed
