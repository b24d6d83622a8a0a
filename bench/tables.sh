#!/usr/bin/env bash
# Table benchmark: the CLI's hand-written text table against comfy-table on the same rows
# (bench/README.md, "Tables").
#
#   bench/tables.sh [--rounds N]
#
# Options (environment variable in brackets, flags win):
#   --rounds N   renders per size, the best is shown [BENCH_ROUNDS, 5]
# Also CARGO, CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
unset RUST_BACKTRACE

rounds=${BENCH_ROUNDS:-5}
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    *) sed -n '5,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

echo "== building the table benchmark (release) =="
(cd "$ROOT" && "$CARGO" build --release --locked -p ironpost-cli --example table_bench)
echo
"$TARGET_DIR/release/examples/table_bench" --rounds "$rounds"
