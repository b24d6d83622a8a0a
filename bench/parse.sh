#!/usr/bin/env bash
# Log parser benchmark: lines per second of ironpost_log_pipeline::parse against the
# syslog_loose crate on the same RFC 5424 and RFC 3164 lines, and against serde_json::Value on
# JSON lines (bench/README.md, "Log parsers").
#
#   bench/parse.sh [--lines N] [--rounds N]
#
# Options (environment variable in brackets, flags win):
#   --lines N    lines of the generated corpus [BENCH_LINES, 1000000: the reference corpus]
#   --rounds N   passes over the lines per contender, the best is shown [BENCH_ROUNDS, 3]
# Also CARGO, CARGO_TARGET_DIR. The corpus (examples/gen_authlog of the log pipeline, seed 42)
# is generated into /tmp/ironpost-bench/authlog/ unless already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# As in .ci/run: backtraces add nothing to a benchmark and slow down any path that captures one.
unset RUST_BACKTRACE

lines=${BENCH_LINES:-1000000}
rounds=${BENCH_ROUNDS:-3}
while [ $# -gt 0 ]; do
  case $1 in
    --lines) lines=${2:?--lines needs a number}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    *) sed -n '6,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

echo "== building the log-pipeline examples (release) =="
(cd "$ROOT" && "$CARGO" build --release --locked -p ironpost-log-pipeline \
  --example parse_bench --example gen_authlog)
echo

base=/tmp/ironpost-bench/authlog/auth-$lines-s42
echo "== corpus: $lines lines, seed 42 =="
# Idempotent: the generator returns at once when the files exist with the same parameters.
"$TARGET_DIR/release/examples/gen_authlog" -n "$lines" --seed 42 --out "$base" \
  --formats rfc3164,rfc3164pri,rfc5424,jsonl
echo

"$TARGET_DIR/release/examples/parse_bench" --base "$base" --rounds "$rounds"
