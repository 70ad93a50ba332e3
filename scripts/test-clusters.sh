#!/usr/bin/env bash
# `npm run test:clusters`: the whole conformance catalog, the node-fault cases N1–N4 included, on every
# replicated fixture of the broker kit — RabbitMQ 3 nodes (quorum queues), Kafka 3 nodes (replication 3,
# min.insync.replicas 2) and RocketMQ's broker group of three (controller mode). One cluster at a time, each
# brought down afterwards (five JVMs or three Erlang VMs on 2 cores are enough at once). Ends with one table per
# fixture and reports/clusters.json. `npm test` runs the crash and node-fault cases of the same fixtures; this
# runs everything else too and does not fit its time budget (figures in the README).
#   scripts/test-clusters.sh [rabbitmq kafka rocketmq]
set -uo pipefail
cd "$(dirname "$0")/.."
kinds=("${@:-rabbitmq kafka rocketmq}")
read -r -a kinds <<<"${kinds[*]}"
mkdir -p reports
failed=0
reports=()
for kind in "${kinds[@]}"; do
  printf '\n\033[1m== %s, 3 nodes: the whole catalog\033[0m\n' "$kind"
  start=$(date +%s)
  if ! npm run --silent conformance -- --adapter "$kind" --nodes 3 --json "reports/clusters-$kind.json"; then
    echo "!! $kind on 3 nodes: cases failed"
    failed=1
  fi
  echo "$kind: $(($(date +%s) - start)) s"
  reports+=("reports/clusters-$kind.json")
  npm run --silent brokers -- down "$kind" --nodes 3 >/dev/null 2>&1 || true
done
node scripts/summarize-conformance.mjs reports/clusters.json "${reports[@]}" || failed=1
exit $failed
