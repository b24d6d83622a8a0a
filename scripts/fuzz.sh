#!/usr/bin/env bash
# The fuzz targets in fuzz/ (docs/fuzzing.md): build them, run each for a set time, or run the
# short smoke pass that `make test` includes.
#
#   scripts/fuzz.sh build            build every target (cargo fuzz build)
#   scripts/fuzz.sh run [SECONDS]    each target for SECONDS (default $FUZZ_SECONDS, else 60)
#   scripts/fuzz.sh smoke            each target for $FUZZ_SMOKE_RUNS inputs (default 20000, seed 1)
#                                    at most $FUZZ_SMOKE_SECONDS (default 10; 0 skips),
#                                    from the committed seeds only (in $FUZZ_WORK/smoke)
#   scripts/fuzz.sh list             the target names
#
# Environment:
#   FUZZ_TARGETS      space-separated subset of targets (default: all of them)
#   FUZZ_TARGET_DIR   cargo target directory of the instrumented build (default:
#                     $CARGO_TARGET_DIR/fuzz, else fuzz/target): its own, since every crate is
#                     compiled again with coverage instrumentation
#   FUZZ_WORK         where libFuzzer writes what it finds: WORK/corpus/TARGET (grown corpus) and
#                     WORK/artifacts/TARGET/ (crashes, timeouts, out-of-memory inputs); default
#                     /var/tmp/ironpost-fuzz. The committed seeds in fuzz/corpus/ are only read.
#   FUZZ_JOBS         cargo build jobs (default: cargo's)
#
# The instrumented build needs `-Z` flags, which our stable toolchain accepts with
# RUSTC_BOOTSTRAP=1 (set here). No sanitizer: the code under test is safe Rust, and without
# AddressSanitizer a target runs several times faster; libFuzzer still reports panics, timeouts
# (-timeout) and memory over -rss_limit_mb / -malloc_limit_mb. Overflow checks and debug
# assertions are on (cargo-fuzz's default).
set -euo pipefail
# FUZZ_ROOT: the checkout, when this script runs from a copy (scripts/fuzz-long.sh start).
ROOT=${FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT"

export RUSTC_BOOTSTRAP=1
unset RUST_BACKTRACE
TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}
TARGET_DIR=${TARGET_DIR:-$ROOT/fuzz/target}
WORK=${FUZZ_WORK:-/var/tmp/ironpost-fuzz}
BIN_DIR=$TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release

# libFuzzer options for every run: an input taking 10 s is a hang; 2 GiB is unbounded memory
# (each target's inputs are a few KiB to a few MiB).
LIBFUZZER_OPTS=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1)

all_targets() {
  awk '/^\[\[bin\]\]/ { bin = 1; next } bin && /^name = / { gsub(/"/, "", $3); print $3; bin = 0 }' \
    "$ROOT/fuzz/Cargo.toml"
}

targets() {
  if [ -n "${FUZZ_TARGETS:-}" ]; then
    echo "$FUZZ_TARGETS" | tr ' ' '\n' | grep -v '^$'
  else
    all_targets
  fi
}

build() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is missing; scripts/setup.sh installs it" >&2
    exit 1
  fi
  local jobs=()
  [ -n "${FUZZ_JOBS:-}" ] && jobs=(--jobs "$FUZZ_JOBS")
  (cd "$ROOT/fuzz" && cargo fuzz build -s none --target-dir "$TARGET_DIR" "${jobs[@]}")
}

# run_one TARGET SECONDS [extra libFuzzer options...]: exit status of libFuzzer (0: nothing found).
run_one() {
  local t=$1 secs=$2
  shift 2
  mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t"
  "$BIN_DIR/$t" "${LIBFUZZER_OPTS[@]}" -max_total_time="$secs" \
    -artifact_prefix="$WORK/artifacts/$t/" "$@" "$WORK/corpus/$t" "$ROOT/fuzz/corpus/$t"
}

# run_all SECONDS [extra libFuzzer options...]
run_all() {
  local secs=$1 failed=() t log
  shift
  build
  for t in $(targets); do
    log=$WORK/logs/$t.log
    mkdir -p "$WORK/logs"
    if run_one "$t" "$secs" "$@" >"$log" 2>&1; then
      echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs (at most ${secs}s), nothing found"
    else
      echo "fuzz: $t FAILED (log $log; input in $WORK/artifacts/$t/):" >&2
      grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -5 >&2 || true
      failed+=("$t")
    fi
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) found something: ${failed[*]}" >&2
    exit 1
  fi
}

case "${1:-}" in
  build) build ;;
  # One target, already built: _run TARGET SECONDS [libFuzzer options] (scripts/fuzz-long.sh).
  _run) shift; run_one "$@" ;;
  list) all_targets ;;
  run) run_all "${2:-${FUZZ_SECONDS:-60}}" ;;
  smoke)
    secs=${FUZZ_SMOKE_SECONDS:-10}
    if [ "$secs" = 0 ]; then
      echo "fuzz: smoke pass skipped (FUZZ_SMOKE_SECONDS=0)"
      exit 0
    fi
    start=$SECONDS
    # From the committed seeds only, so the pass costs the same on every machine: a corpus grown
    # by `run` or the long campaign would be replayed first, for longer than the pass.
    WORK=$WORK/smoke
    rm -rf "$WORK/corpus"
    # A fixed seed and run count make the pass the same inputs on every run (a CI result does not
    # depend on luck); the time limit only caps a slow machine, which then runs a prefix of them.
    # Finding new inputs is the campaign's job (fuzz-long.sh, random seeds).
    run_all "$secs" -seed=1 -runs="${FUZZ_SMOKE_RUNS:-20000}"
    echo "fuzz: smoke pass of $(targets | wc -l) targets in $((SECONDS - start)) s (build included)"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
