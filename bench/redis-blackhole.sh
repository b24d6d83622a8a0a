#!/usr/bin/env bash
# Log pipeline throughput with the alert state in memory, in Redis, and in a Redis that stopped
# answering mid-run (a proxy that holds every byte): lines/s of the real LogPipeline module over
# its file source, alerts raised, and the fallback counters. Target: the blackholed run within 2x
# of the in-memory one (one response timeout per outage, then the in-process fallback). The one
# timeout is a fixed cost: with in-memory rate R lines/s and N lines the ratio is about
# 1 + timeout * R / N, so N must be well above R x timeout (default 2,000,000 lines).
# Needs the Redis of scripts/services.sh (or BENCH_REDIS_URL=redis://IP:PORT).
# BENCH_LINES=N (default 2000000), BENCH_TIMEOUT_MS=MS (response timeout, default 1000).
set -euo pipefail
unset RUST_BACKTRACE
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --locked -q -p ironpost-log-pipeline --example redis_blackhole
exec "$TARGET_DIR/release/examples/redis_blackhole" --lines "${BENCH_LINES:-2000000}" \
  --redis "${BENCH_REDIS_URL:-redis://127.0.0.1:6379}" --timeout-ms "${BENCH_TIMEOUT_MS:-1000}"
