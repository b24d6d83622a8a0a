#!/usr/bin/env bash
# Rule-evaluation benchmark: events per second of ironpost_log_pipeline::rules::RuleSet against
# rsigma-eval 0.23 on the same Sigma rules and the same auth.log events, in one run, plus a
# fail2ban cross-check of thresholds on record time (bench/README.md, "Rule engine").
#
#   bench/rules.sh [--lines N] [--rules N] [--rounds N]
#
# Options (environment variable in brackets, flags win):
#   --lines N    lines of the generated auth.log [BENCH_LINES, 200000]
#   --rules N    generated Sigma rules [BENCH_RULES, 100]
#   --rounds N   timed passes per engine, alternating, the median is shown [BENCH_ROUNDS, 5]
# Also CARGO, CARGO_TARGET_DIR. The log (examples/gen_authlog of the log pipeline, seed 1) is
# generated into /tmp/ironpost-bench/authlog/ unless already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# As in .ci/run: backtraces add nothing to a benchmark and slow down any path that captures one.
unset RUST_BACKTRACE

lines=${BENCH_LINES:-200000}
rules=${BENCH_RULES:-100}
rounds=${BENCH_ROUNDS:-5}
while [ $# -gt 0 ]; do
  case $1 in
    --lines) lines=${2:?--lines needs a number}; shift 2 ;;
    --rules) rules=${2:?--rules needs a number}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    *) sed -n '6,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

echo "== building the rule benchmark (release, feature rsigma-bench) =="
(cd "$ROOT" && "$CARGO" build --release --locked -p ironpost-log-pipeline \
  --features rsigma-bench --example rules_bench --example gen_authlog)
echo

base=/tmp/ironpost-bench/authlog/auth-$lines-s1
echo "== events: $lines auth.log lines, seed 1 =="
# Idempotent: the generator returns at once when the files exist with the same parameters.
"$TARGET_DIR/release/examples/gen_authlog" -n "$lines" --seed 1 --out "$base" --formats rfc3164
echo

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$TARGET_DIR/release/examples/rules_bench" --log "$base.log" --truth "$base.truth.json" \
  --rules "$rules" --rounds "$rounds"
