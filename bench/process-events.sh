#!/usr/bin/env bash
# Process events per second the userspace side handles with the rules evaluated: records as the
# kernel writes them (a seeded synthetic workload) through what the daemon does with each one
# (decode and receipt, process table, container map, Sigma record) and the rule library's
# matching, on one thread, at full speed (crates/log-pipeline/examples/process_events_bench.rs;
# bench/README.md, "Process events"). Run twice: with the repository's rules/ and with the
# SigmaHQ rules/linux set in testdata/sigmahq. No root needed.
#
#   bench/process-events.sh [--events N] [--rounds N]
#
# Options (environment variable in brackets, flags win):
#   --events N   records in the workload [BENCH_EVENTS, 500000]
#   --rounds N   timed rounds per stage, the best is shown [BENCH_ROUNDS, 5]
# Also CARGO, CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
unset RUST_BACKTRACE

events=${BENCH_EVENTS:-500000}
rounds=${BENCH_ROUNDS:-5}
while [ $# -gt 0 ]; do
  case $1 in
    --events) events=${2:?--events needs a number}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    *) sed -n '9,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

echo "== building (release): ironpost-log-pipeline --example process_events_bench =="
(cd "$ROOT" && "$CARGO" build --release --locked -q -p ironpost-log-pipeline --example process_events_bench)
BIN="$TARGET_DIR/release/examples/process_events_bench"
echo "$(date -u '+%F %T UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
for rules in "$ROOT/rules" "$ROOT/testdata/sigmahq/rules/linux"; do
  echo
  echo "== rules: ${rules#"$ROOT"/} =="
  "$BIN" --events "$events" --rounds "$rounds" --rules "$rules"
done
