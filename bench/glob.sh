#!/usr/bin/env bash
# Glob benchmark: globset (ironpost_core::glob) against the hand-written name matcher it replaced,
# and against the regex the Sigma compiler builds for wildcard values (bench/README.md, "Globs").
#
#   bench/glob.sh [--names N] [--lines N] [--rules N] [--rounds N]
#
# Options (environment variable in brackets, flags win):
#   --names N    container-like names, each against 5 patterns [BENCH_NAMES, 100000]
#   --lines N    auth-log-like lines, each against 3 Sigma values [BENCH_LINES, 1000000]
#   --rules N    Sigma wildcard rules behind the prefilter [BENCH_RULES, 100]
#   --rounds N   passes per contender, the best is shown [BENCH_ROUNDS, 3]
# Also CARGO, CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
unset RUST_BACKTRACE

names=${BENCH_NAMES:-100000}
lines=${BENCH_LINES:-1000000}
rounds=${BENCH_ROUNDS:-3}
rules=${BENCH_RULES:-100}
while [ $# -gt 0 ]; do
  case $1 in
    --names) names=${2:?--names needs a number}; shift 2 ;;
    --lines) lines=${2:?--lines needs a number}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --rules) rules=${2:?--rules needs a number}; shift 2 ;;
    *) sed -n '5,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

echo "== building the glob benchmark (release) =="
(cd "$ROOT" && "$CARGO" build --release --locked -p ironpost-log-pipeline --example glob_bench)
echo
"$TARGET_DIR/release/examples/glob_bench" --names "$names" --lines "$lines" --rules "$rules" --rounds "$rounds"
