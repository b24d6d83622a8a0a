#!/usr/bin/env bash
# Scan start -> AnomalyScoreHigh held by Alertmanager, over BENCH_RUNS runs of scripts/demo-ids.sh (each with a
# fresh daemon and Alertmanager): prints every run and the p50 / max in milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
lat=()
for i in $(seq 1 "$RUNS"); do
  ms=$(DEMO_QUIET=1 bash scripts/demo-ids.sh)
  echo "run $i: ${ms} ms"
  lat+=("$ms")
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
p50=$(echo "$sorted" | awk -v n="$RUNS" 'NR==int((n+1)/2){print}')
max=$(echo "$sorted" | tail -1)
echo "ids scan->alertmanager latency over $RUNS runs: p50 ${p50} ms, max ${max} ms (target <= 1000 ms)"
