#!/usr/bin/env bash
# Cost per execve of the process monitor's probes, side by side with auditd running an execve
# rule: COUNT spawns of /bin/true (a posix_spawn loop, crates/process-monitor/examples/
# exec_overhead.rs) with nothing attached ("bare"), with the probes attached and their ring
# buffer drained ("probes"), and under auditd with `-a always,exit -F arch=b64 -S execve`
# ("auditd"). The spawns are split into CHUNKS rounds that interleave the three modes, so that
# load from other processes on the machine spreads over all three. Needs root.
#
# Usage: bench/exec-overhead.sh [--count N] [--chunks N] [--modes "M ..."]
#   defaults: 100000, 5, "bare probes auditd"; "probes-batch" is the probes with a consumer that
#   drains every 100 ms instead of at each event's wakeup. "bare" must be among the modes.
# Prints one line per chunk and mode, then the totals and the ratios to "bare"; the target is
# probes <= 1.05 x bare (the line says MISSED otherwise).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COUNT="${BENCH_COUNT:-100000}"
CHUNKS="${BENCH_CHUNKS:-5}"
MODES="${BENCH_MODES:-bare probes auditd}"
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT="$2"; shift 2 ;;
    --chunks) CHUNKS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    *) echo "usage: $0 [--count N] [--chunks N] [--modes \"bare probes auditd\"]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "exec-overhead: needs root (BPF, auditd)" >&2; exit 1; }
PER=$((COUNT / CHUNKS))

bash "$ROOT/scripts/setup.sh" >/dev/null
( cd "$ROOT" && cargo build --release --locked -q -p ironpost-process-monitor --example exec_overhead )
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/exec_overhead"

if [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" != 0 ]; then
  echo "exec-overhead: an audit daemon is already running; stop it first" >&2
  exit 1
fi

WORK="$(mktemp -d /tmp/ironpost-exec-overhead.XXXXXX)"
AUDITD_PID=""
KEY=ironpost_exec_bench
stop_auditd() {
  auditctl -d always,exit -F arch=b64 -S execve -k "$KEY" >/dev/null 2>&1 || true
  if [ -n "$AUDITD_PID" ]; then
    kill "$AUDITD_PID" 2>/dev/null || true
    wait "$AUDITD_PID" 2>/dev/null || true
    AUDITD_PID=""
  fi
}
cleanup() { stop_auditd; rm -rf "$WORK"; }
trap cleanup EXIT

# A private auditd configuration: its log in $WORK, not /var/log/audit.
mkdir -p "$WORK/etc" "$WORK/log"
cat > "$WORK/etc/auditd.conf" <<CONF
log_file = $WORK/log/audit.log
log_format = ENRICHED
log_group = root
write_logs = yes
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 1024
num_logs = 2
max_log_file_action = ROTATE
space_left = 75
space_left_action = IGNORE
admin_space_left = 50
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
CONF

start_auditd() {
  auditd -n -c "$WORK/etc" &
  AUDITD_PID=$!
  for _ in $(seq 100); do
    [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" = "$AUDITD_PID" ] && break
    sleep 0.05
  done
  [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" = "$AUDITD_PID" ] || {
    echo "exec-overhead: auditd did not register with the kernel" >&2; exit 1; }
  auditctl -b 8192 >/dev/null
  auditctl -a always,exit -F arch=b64 -S execve -k "$KEY" >/dev/null
}

declare -A TOTAL=()
for mode in $MODES; do TOTAL[$mode]=0; done
for chunk in $(seq "$CHUNKS"); do
  for mode in $MODES; do
    case "$mode" in
      bare|probes|probes-batch) line="$("$BIN" "$mode" "$PER")" ;;
      auditd) start_auditd; line="$("$BIN" bare "$PER")"; stop_auditd
              line="${line/mode=bare/mode=auditd}" ;;
      *) echo "exec-overhead: unknown mode $mode" >&2; exit 2 ;;
    esac
    echo "chunk $chunk: $line"
    s="$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$line")"
    TOTAL[$mode]="$(awk -v a="${TOTAL[$mode]}" -v b="$s" 'BEGIN { print a + b }')"
  done
done
records="$(cat "$WORK"/log/audit.log* 2>/dev/null | grep -c "key=\"$KEY\"" || true)"

echo
echo "exec overhead: $COUNT spawns of /bin/true per mode, $CHUNKS interleaved chunks"
for mode in $MODES; do
  us="$(awk -v t="${TOTAL[$mode]}" -v n="$COUNT" 'BEGIN { print t * 1000000 / n }')"
  ratio="$(awk -v t="${TOTAL[$mode]}" -v b="${TOTAL[bare]}" 'BEGIN { print t / b }')"
  printf '  %-13s %8.2f s  %7.1f us/spawn  x%.3f\n' "$mode" "${TOTAL[$mode]}" "$us" "$ratio"
done
if [ -n "${TOTAL[auditd]:-}" ]; then
  echo "  auditd wrote $records SYSCALL records with key $KEY"
fi
for mode in probes probes-batch; do
  [ -n "${TOTAL[$mode]:-}" ] || continue
  ratio="$(awk -v t="${TOTAL[$mode]}" -v b="${TOTAL[bare]}" 'BEGIN { print t / b }')"
  if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.05) }'; then
    printf '%s/bare = %.3f: target <= 1.05 met\n' "$mode" "$ratio"
  else
    printf '%s/bare = %.3f: target <= 1.05 MISSED\n' "$mode" "$ratio"
  fi
done
