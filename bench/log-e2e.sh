#!/usr/bin/env bash
# End-to-end log pipeline benchmark: the release daemon with the default rule library (rules/,
# what the packages install as /etc/ironpost/rules; BENCH_RULES=seed20 for the 20 seed-format
# rules of earlier runs), fed
#  (1) over syslog TCP by a load generator (crates/log-pipeline/examples/tcp_flood.rs; one
#      connection unless BENCH_CONNECTIONS=N), and
#  (2) by its file source reading an auth.log already on disk (start_at = beginning).
# Prints lines/s from "first line sent" (or daemon start, for the file) until the pipeline has
# parsed and matched every line (ironpost_log_parsed_total), and the daemon's peak RSS (VmHWM).
# For the file it also prints the acknowledged rate: until the committed offset covers the whole
# file (ironpost_log_source_acked_bytes_total = file size), i.e. every alert and evidence line
# derived from it is stored in SQLite.
# Input: the reference corpus of crates/log-pipeline/examples/gen_authlog (1M lines, seed 42);
# BENCH_LINES=N for a quick run; BENCH_NO_BUILD=1 runs the release binaries already built (a
# release build takes long on a busy 2-core machine) instead of building first.
# Targets printed beside the figures: >= 1,000,000 lines/s with peak RSS <= 64 MB.
set -euo pipefail
unset RUST_BACKTRACE
cd "$(dirname "$0")/.."

LINES=${BENCH_LINES:-1000000}
CONNS=${BENCH_CONNECTIONS:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
WORK=$(mktemp -d /tmp/ironpost-log-e2e.XXXXXX)
CORPUS_DIR=/tmp/ironpost-bench-corpus
DAEMON_PID=
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "building (release) ..."
  cargo build --release --locked -q -p ironpost-daemon -p ironpost-cli
  cargo build --release --locked -q -p ironpost-log-pipeline --example tcp_flood --example gen_authlog
fi
BIN=$TARGET_DIR/release

mkdir -p "$CORPUS_DIR"
BASE="$CORPUS_DIR/auth-$LINES"
# Idempotent: the generator returns at once when the files exist with the same parameters.
"$BIN/examples/gen_authlog" -n "$LINES" --seed 42 --out "$BASE" --formats rfc3164,rfc5424 >/dev/null

RULE_SET=${BENCH_RULES:-library}
case "$RULE_SET" in
library)
  RULES="$PWD/rules"
  NRULES=$(find "$RULES" -maxdepth 1 -name '*.yaml' -o -maxdepth 1 -name '*.yml' | wc -l)
  RULES_DESC="the default rule library: $NRULES rules from rules/"
  ;;
seed20)
  # 20 rules: 10 on literals the corpus contains (some with thresholds per source IP), 10 that never match.
  RULES="$WORK/rules"; mkdir -p "$RULES"
  i=0
  for lit in "Failed password" "Invalid user" "Accepted publickey" "Accepted password" "Connection closed" \
             "maximum authentication attempts" "reverse mapping" "Did not receive identification" \
             "session opened" "Disconnected from"; do
    i=$((i+1))
    thr=""
    if [ $((i % 2)) -eq 1 ]; then thr=$'  threshold:\n    count: 5\n    timeframe_secs: 600\n    group_by: src_ip'; fi
    printf 'id: bench_rule_%02d\ntitle: bench %s\nseverity: medium\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: "%s"\n%s\n' "$i" "$lit" "$lit" "$thr" > "$RULES/r$i.yaml"
  done
  for j in $(seq 11 20); do
    printf 'id: bench_rule_%02d\ntitle: never %s\nseverity: low\ndetection:\n  conditions:\n    - field: process\n      operator: equals\n      value: sudo\n    - field: message\n      operator: contains\n      value: "COMMAND=/opt/never/%s"\n' "$j" "$j" "$j" > "$RULES/r$j.yaml"
  done
  RULES_DESC="20 rules (10 matching the corpus, 5 with thresholds)"
  ;;
*) echo "BENCH_RULES must be library or seed20" >&2; exit 2 ;;
esac
start_daemon() { # extra env as KEY=VALUE arguments
  rm -rf "$WORK/data" "$WORK/run"
  env IRONPOST_GENERAL_DATA_DIR="$WORK/data" IRONPOST_GENERAL_PID_FILE="$WORK/run/pid" \
      IRONPOST_GENERAL_CONTROL_SOCKET="$WORK/run/c.sock" IRONPOST_GENERAL_HTTP_LISTEN=127.0.0.1:0 \
      IRONPOST_GENERAL_LOG_LEVEL=warn IRONPOST_LOG_PIPELINE_ENABLED=true \
      IRONPOST_LOG_PIPELINE_RULES_DIR="$RULES" "$@" \
      "$BIN/ironpost-daemon" --defaults >"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 200); do
    HTTP=$(IRONPOST_GENERAL_CONTROL_SOCKET="$WORK/run/c.sock" "$BIN/ironpost-cli" --defaults status -o json 2>/dev/null \
           | sed -n 's/.*"http_listen": *"\([^"]*\)".*/\1/p') || true
    [ -n "${HTTP:-}" ] && return 0
    sleep 0.05
  done
  cat "$WORK/daemon.log"; exit 1
}

parsed() { curl -fsS "http://$HTTP/metrics" | awk '/^ironpost_log_parsed_total/ {s += $2} END {printf "%d", s}'; }

acked() { curl -fsS "http://$HTTP/metrics" | awk '/^ironpost_log_source_acked_bytes_total/ {s += $2} END {printf "%d", s}'; }

wait_acked() { # BYTES -> prints seconds since $T0
  while [ "$(acked)" -lt "$1" ]; do
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log"; exit 1; }
    sleep 0.02
  done
  python3 -c "import time; print(f'{time.time() - $T0:.3f}')"
}

wait_parsed() { # N -> prints seconds since $T0
  while [ "$(parsed)" -lt "$1" ]; do
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log"; exit 1; }
    sleep 0.02
  done
  python3 -c "import time; print(f'{time.time() - $T0:.3f}')"
}

rules_loaded() { curl -fsS "http://$HTTP/metrics" | awk '/^ironpost_log_rules_loaded/ {printf "%d", $2}'; }

# The daemon's CPU time so far (user + system, seconds): lines per CPU-second does not depend on
# what else the machine runs as much as lines per second does.
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$DAEMON_PID/stat"; }

stop_daemon() {
  RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON_PID/status")
  CPU_S=$(cpu_secs)
  kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=
}

N=$(wc -l < "$BASE.rfc5424.log")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_daemon IRONPOST_LOG_PIPELINE_SOURCES=syslog_tcp IRONPOST_LOG_PIPELINE_SYSLOG_BIND="127.0.0.1:$PORT"
# A rule set that failed to load leaves the daemon matching nothing: no figure then.
LOADED=$(rules_loaded)
if [ "${LOADED:-0}" -lt 1 ]; then
  echo "the daemon loaded no rules from $RULES:" >&2; cat "$WORK/daemon.log" >&2; exit 1
fi
T0=$(python3 -c 'import time; print(time.time())')
"$BIN/examples/tcp_flood" "127.0.0.1:$PORT" "$BASE.rfc5424.log" --connections "$CONNS" > "$WORK/sender.txt"
TCP_S=$(wait_parsed "$N")
ALERTS_TCP=$(curl -fsS "http://$HTTP/metrics" | awk '/^ironpost_alerts_total/ {s += $2} END {printf "%d", s}')
stop_daemon; TCP_RSS=$RSS_KB; TCP_CPU=$CPU_S

T0=$(python3 -c 'import time; print(time.time())')
start_daemon IRONPOST_LOG_PIPELINE_SOURCES=file IRONPOST_LOG_PIPELINE_WATCH_PATHS="$BASE.log" \
    IRONPOST_LOG_PIPELINE_FILE_START_AT=beginning IRONPOST_LOG_PIPELINE_FILE_POLL_MS=10
FILE_S=$(wait_parsed "$N")
FILE_CPU_PARSED=$(cpu_secs)
FILE_ACK_S=$(wait_acked "$(stat -c %s "$BASE.log")")
ALERTS_FILE=$(curl -fsS "http://$HTTP/metrics" | awk '/^ironpost_alerts_total/ {s += $2} END {printf "%d", s}')
stop_daemon; FILE_RSS=$RSS_KB

python3 - "$N" "$TCP_S" "$TCP_RSS" "$FILE_S" "$FILE_RSS" "$ALERTS_TCP" "$(cat "$WORK/sender.txt")" "$FILE_ACK_S" "$ALERTS_FILE" "$RULES_DESC" "$TCP_CPU" "$FILE_CPU_PARSED" "$LOADED" <<'PY'
import sys
n, tcp_s, tcp_rss, file_s, file_rss, alerts, sender = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
file_ack_s, alerts_file, rules_desc = float(sys.argv[8]), sys.argv[9], sys.argv[10]
tcp_cpu, file_cpu, loaded = float(sys.argv[11]), float(sys.argv[12]), sys.argv[13]
def row(name, s, rss):
    rate = n / s
    print(f"{name:<34} {n:>9} lines {s:>8.3f} s {rate:>12,.0f} lines/s   peak RSS {rss/1024:6.1f} MB"
          f"   (target >= 1,000,000/s: {'ok' if rate >= 1e6 else 'MISSED'}; <= 64 MB: {'ok' if rss <= 64*1024 else 'MISSED'})")
print(f"{rules_desc} ({loaded} loaded); sender: {sender}")
row("syslog TCP -> parse -> rules", tcp_s, tcp_rss)
row("file (auth.log on disk) -> ...", file_s, file_rss)
row("file, acknowledged (all stored)", file_ack_s, file_rss)
print(f"alerts raised over TCP: {alerts}; from the file: {alerts_file}")
print(f"daemon CPU time: syslog TCP run {tcp_cpu:.2f} s ({n / tcp_cpu:,.0f} lines per CPU-second); "
      f"file run until parsed {file_cpu:.2f} s ({n / file_cpu:,.0f} lines per CPU-second, start-up included)")
PY
