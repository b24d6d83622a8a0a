#!/usr/bin/env bash
# Web console benchmark (docs/console.md): the daemon (no module enabled, the console on) with
#  (1) 100,000 alerts in its SQLite store (crates/daemon/examples/console_bench.rs `fill`,
#      spread over the last 23 hours): server time of the overview page (`GET /`: three aggregate
#      queries) and of `GET /alerts`, p50 and max of BENCH_ROUNDS requests (curl's
#      time_starttransfer on loopback: the server's time to the first byte);
#  (2) alerts submitted at BENCH_RATE per second (default 5,000) for BENCH_SECS seconds over the
#      control socket (`console_bench flood`), with two live-stream clients on `GET /live`: one
#      reading as fast as it can, one throttled to 1 KB/s (it must be disconnected and counted,
#      not buffered); the daemon's RSS sampled every 0.2 s.
# Targets printed beside the figures: overview <= 300 ms; RSS <= 64 MB during the stream.
# BENCH_PROFILE=debug uses the debug build (a release build takes long on a busy 2-core machine;
# debug figures are an upper bound); BENCH_NO_BUILD=1 uses binaries already built.
set -euo pipefail
unset RUST_BACKTRACE
cd "$(dirname "$0")/.."

ALERTS=${BENCH_ALERTS:-100000}
ROUNDS=${BENCH_ROUNDS:-20}
RATE=${BENCH_RATE:-5000}
SECS=${BENCH_SECS:-10}
PROFILE=${BENCH_PROFILE:-release}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
WORK=$(mktemp -d /tmp/ironpost-console-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

flag=(); [ "$PROFILE" = release ] && flag=(--release)
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "building ($PROFILE) ..."
  cargo build "${flag[@]}" --locked -q -p ironpost-daemon -p ironpost-cli --bins
  cargo build "${flag[@]}" --locked -q -p ironpost-daemon --example console_bench
fi
BIN=$TARGET_DIR/$PROFILE

export IRONPOST_GENERAL_DATA_DIR="$WORK/data"
export IRONPOST_GENERAL_PID_FILE="$WORK/ironpost.pid"
export IRONPOST_GENERAL_CONTROL_SOCKET="$WORK/control.sock"
export IRONPOST_GENERAL_LOG_LEVEL=warn
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export IRONPOST_GENERAL_HTTP_LISTEN="127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT"

echo "filling the store with $ALERTS alerts ..."
mkdir -p "$WORK/data"
"$BIN/examples/console_bench" fill "$WORK/data" "$ALERTS"

"$BIN/ironpost-daemon" --defaults >"$WORK/daemon.log" 2>&1 &
DAEMON=$!; PIDS+=("$DAEMON")
for _ in $(seq 100); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$URL/health" >/dev/null || { cat "$WORK/daemon.log"; echo "the daemon did not start" >&2; exit 1; }

# (1) page server time.
page() {
  local path=$1 t=()
  curl -fs -o "$WORK/page.html" "$URL$path"   # first request: opens the store reader
  for _ in $(seq "$ROUNDS"); do
    t+=("$(curl -fs -o /dev/null -w '%{time_starttransfer}' "$URL$path")")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk -v path="$path" -v n="$ROUNDS" -v target="$2" '
    { v[NR] = $1 * 1000 }
    END { p50 = v[int((n + 1) / 2)]; max = v[n];
          printf "%-8s p50 %6.1f ms  max %6.1f ms  (%d requests)%s\n", path, p50, max, n,
                 target == "" ? "" : (max <= target ? "  target <= " target " ms: met" : "  target <= " target " ms: MISSED") }'
}
echo "== server time with $ALERTS stored alerts ($PROFILE build)"
page / 300
grep -q "$ALERTS</a> alerts" "$WORK/page.html" || { echo "the overview does not count $ALERTS alerts" >&2; exit 1; }
page /alerts ""
page /rules ""

# (2) the live stream under load.
curl -sN "$URL/live" >"$WORK/fast.sse" 2>/dev/null & PIDS+=($!)
curl -sN --limit-rate 1k "$URL/live" >"$WORK/slow.sse" 2>/dev/null & PIDS+=($!)
sleep 0.5
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON/status"; }
RSS0=$(rss)
( peak=0; while kill -0 "$DAEMON" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && { peak=$r; echo "$peak" >"$WORK/peak"; }; sleep 0.2; done ) & PIDS+=($!)
echo "== live stream: $RATE alerts/s for $SECS s, one fast and one 1 KB/s client"
"$BIN/examples/console_bench" flood "$WORK/control.sock" "$RATE" "$SECS"
sleep 1
RSS1=$(rss); PEAK=$(cat "$WORK/peak")
GOT=$(grep -c '^event: alert' "$WORK/fast.sse" || true)
SLOW=$(grep -c '^event: alert' "$WORK/slow.sse" || true)
METRICS=$(curl -fs "$URL/metrics")
DROPPED=$(echo "$METRICS" | awk '/^ironpost_console_live_clients_dropped_total/ { print $2 }')
QDROP=$(echo "$METRICS" | awk '/^ironpost_store_queue_dropped_total\{kind="alert"\}/ { print $2 }')
echo "fast client received $GOT alerts; slow client $SLOW before it was dropped; clients dropped: ${DROPPED:-0}"
echo "store queue drops (alerts not stored, counted): ${QDROP:-0}"
awk -v a="$RSS0" -v b="$RSS1" -v p="$PEAK" 'BEGIN {
  printf "daemon RSS: %.1f MB before, %.1f MB after, peak %.1f MB  target <= 64 MB: %s\n",
         a / 1024, b / 1024, p / 1024, (p <= 65536 ? "met" : "MISSED") }'
