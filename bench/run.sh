#!/usr/bin/env bash
# Ironpost's benchmarks: one command builds what they need in release mode, runs them and prints
# the figures (see bench/README.md for what each one measures and how to read it).
#
#   bench/run.sh xdp          both XDP benchmarks below, in this order
#   bench/run.sh xdp-testrun  ns per packet under BPF_PROG_TEST_RUN
#   bench/run.sh xdp-drop     drop rate of a UDP flood on a veth pair
#
# Options (environment variable in brackets, flags win):
#   -d, --duration SECS    seconds of flood per drop variant [BENCH_DURATION, 5]
#   --rounds N             rounds of the five drop variants [BENCH_ROUNDS, 1]
#   --repeat N             BPF_PROG_TEST_RUN runs per round [BENCH_REPEAT, 1000000]
#   --testrun-rounds N     rounds per test-run case, the median is shown [BENCH_TESTRUN_ROUNDS, 5]
# Also BENCH_ENTRIES (banned addresses in the drop benchmark, 10000), CARGO, CARGO_TARGET_DIR.
# Needs root and the packages scripts/setup.sh installs (`make bench-xdp` runs it first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

usage() {
  sed -n '5,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
what=$1
shift
case $what in
  xdp | xdp-testrun | xdp-drop) ;;
  *) usage ;;
esac

export BENCH_DURATION=${BENCH_DURATION:-5}
export BENCH_ROUNDS=${BENCH_ROUNDS:-1}
testrun_rounds=${BENCH_TESTRUN_ROUNDS:-5}
repeat=${BENCH_REPEAT:-1000000}
while [ $# -gt 0 ]; do
  case $1 in
    -d | --duration) BENCH_DURATION=${2:?$1 needs seconds}; shift 2 ;;
    --rounds) BENCH_ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --testrun-rounds) testrun_rounds=${2:?--testrun-rounds needs a number}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a number}; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: the XDP benchmarks need root (BPF programs and maps; network namespaces and netfilter for the drop benchmark)" >&2
  exit 1
fi

echo "== building the ebpf-engine examples (release) =="
(cd "$ROOT" && "$CARGO" build --release --locked -p ironpost-ebpf-engine --examples)
examples=$TARGET_DIR/release/examples
echo

if [ "$what" != xdp-drop ]; then
  "$examples/xdp_testrun_bench" --repeat "$repeat" --rounds "$testrun_rounds"
  echo
fi
if [ "$what" != xdp-testrun ]; then
  bash "$ROOT/bench/xdp_drop.sh" "$examples/xdp_drop_helper"
fi
