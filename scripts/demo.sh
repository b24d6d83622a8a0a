#!/usr/bin/env bash
# The main demo on embedded defaults: starts ironpost-daemon with the built-in config (SQLite,
# nothing to install), shows its health and metrics, feeds it an alert the way a detector would,
# reads the alert back from storage, and shuts the daemon down cleanly. Everything lives in a
# temporary directory that is removed at the end.
set -euo pipefail

BIN_DIR=${DEMO_BIN_DIR:-target/release}
DAEMON="$BIN_DIR/ironpost-daemon"
CLI="$BIN_DIR/ironpost-cli"
for b in "$DAEMON" "$CLI"; do
  [ -x "$b" ] || { echo "demo: $b not built; run: make build-release" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ironpost-demo.XXXXXX)
export IRONPOST_GENERAL_DATA_DIR="$WORK/data"
export IRONPOST_GENERAL_PID_FILE="$WORK/run/ironpost.pid"
export IRONPOST_GENERAL_CONTROL_SOCKET="$WORK/run/control.sock"
export IRONPOST_GENERAL_HTTP_LISTEN="127.0.0.1:0"
export IRONPOST_GENERAL_LOG_FORMAT="pretty"

DAEMON_PID=
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting ironpost-daemon on the built-in defaults (SQLite under $WORK/data)"
"$DAEMON" --defaults >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do
  "$CLI" --defaults status >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log"; exit 1; }
  sleep 0.1
done
"$CLI" --defaults status
HTTP=$("$CLI" --defaults status --output json | sed -n 's/.*"http_listen": *"\([^"]*\)".*/\1/p')

step "GET http://$HTTP/health"
curl -fsS "http://$HTTP/health"; echo

step "An SSH brute-force alert arrives (as the log pipeline will raise it)"
cat <<JSON | tee /dev/stderr | "$CLI" --defaults alerts submit
{"severity":"high","source":"external","rule_id":"ssh_brute_force","title":"SSH brute force","description":"5 failed passwords within 60s","entities":{"src_ip":"198.18.5.2","dst_ip":"198.18.5.1","dst_port":22,"user":"root"},"tags":["attack.credential_access","T1110"]}
JSON

step "ironpost-cli alerts list (read back from the store)"
for _ in $(seq 1 50); do
  "$CLI" --defaults alerts list | grep -q ssh_brute_force && break
  sleep 0.1
done
"$CLI" --defaults alerts list

step "GET http://$HTTP/metrics (selected lines)"
curl -fsS "http://$HTTP/metrics" | grep -E '^ironpost_(build_info|uptime_seconds|alerts_total|store_records_written_total|module_health)' || true

step "Stopping the daemon (SIGTERM: drains channels, flushes the store)"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=
echo "daemon exited cleanly"

cat <<EOF_NEXT

Where to look next:
  ironpost-cli alerts list --since '1 hour ago' --severity high
  ironpost-cli status                      # live module health over the control socket
  curl http://127.0.0.1:9470/metrics       # with the default config
  ironpost-cli config init ./ironpost.toml # a commented config to start from
EOF_NEXT
