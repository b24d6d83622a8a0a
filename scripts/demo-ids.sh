#!/usr/bin/env bash
# The anomaly IDS demo (seed 004): nats-server -js (scripts/services.sh), a private Alertmanager routing to the
# daemon's notifier, ironpost-daemon with the IDS on NATS + Alertmanager, then
#   `ironpost-cli simulate --mode scan --seconds 3`   -> Alertmanager holds AnomalyScoreHigh for the scanner
#   `ironpost-cli simulate --mode benign --seconds 3` -> no alert for that source
# printing the scan-start -> alert-in-Alertmanager latency. Everything lives in a temporary directory that is
# removed at the end; the Alertmanager is private so its state is fresh on every run.
# Env: DEMO_BIN_DIR (default target/release), DEMO_QUIET=1 prints only the latency line (bench/ids.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR=${DEMO_BIN_DIR:-target/release}
DAEMON="$BIN_DIR/ironpost-daemon"
CLI="$BIN_DIR/ironpost-cli"
for b in "$DAEMON" "$CLI"; do
  [ -x "$b" ] || { echo "demo-ids: $b not built; run: make build-release" >&2; exit 1; }
done
QUIET=${DEMO_QUIET:-0}
say() { [ "$QUIET" = 1 ] || printf '%s\n' "$*"; }
step() { [ "$QUIET" = 1 ] || printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$QUIET" = 1 ]; then bash scripts/services.sh start nats >/dev/null; else bash scripts/services.sh start nats; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d /tmp/ironpost-demo-ids.XXXXXX)
AM_PORT=$(free_port); HTTP_PORT=$(free_port)
AM="http://127.0.0.1:$AM_PORT"
RUN_ID=$$
export IRONPOST_GENERAL_DATA_DIR="$WORK/data"
export IRONPOST_GENERAL_PID_FILE="$WORK/run/ironpost.pid"
export IRONPOST_GENERAL_CONTROL_SOCKET="$WORK/run/control.sock"
export IRONPOST_GENERAL_HTTP_LISTEN="127.0.0.1:$HTTP_PORT"
export IRONPOST_GENERAL_LOG_FORMAT="json"
export IRONPOST_IDS_ENABLED=true
export IRONPOST_IDS_NATS_URL="nats://127.0.0.1:4222"
export IRONPOST_IDS_SUBJECT="telemetry.flow"
export IRONPOST_IDS_STREAM="IRONPOST_TELEMETRY"
export IRONPOST_IDS_DURABLE="ironpost-ids-demo"
export IRONPOST_IDS_MODEL_PATH="$PWD/models/probe.onnx"
export IRONPOST_IDS_ALERTMANAGER_URL="$AM"

AM_PID= DAEMON_PID=
cleanup() {
  for p in $DAEMON_PID $AM_PID; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

step "Alertmanager on $AM (routing to the notifier at 127.0.0.1:$HTTP_PORT/api/v1/notify)"
sed "s|127.0.0.1:9470|127.0.0.1:$HTTP_PORT|" deploy/alertmanager/alertmanager.yml >"$WORK/am.yml"
mkdir -p "$WORK/am"
prometheus-alertmanager --config.file="$WORK/am.yml" --storage.path="$WORK/am" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$WORK/am.log" 2>&1 &
AM_PID=$!
until curl -fsS "$AM/-/ready" >/dev/null 2>&1; do kill -0 "$AM_PID" || { cat "$WORK/am.log"; exit 1; }; sleep 0.05; done

step "ironpost-daemon with [ids] on NATS (telemetry.flow) and Alertmanager, model models/probe.onnx"
"$DAEMON" --defaults >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
until curl -fsS "http://127.0.0.1:$HTTP_PORT/health" 2>/dev/null | jq -e '.modules.ids.status == "healthy"' >/dev/null; do
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log"; exit 1; }
  sleep 0.05
done
[ "$QUIET" = 1 ] || curl -fsS "http://127.0.0.1:$HTTP_PORT/health" | jq -c .

# A source address of this run (198.18.0.0/15, the benchmark range), so runs never see each other's alerts.
SCANNER="198.18.$((RUN_ID % 200 + 10)).5"
BENIGN="198.18.$((RUN_ID % 200 + 10)).6"
holds() { curl -fsS "$AM/api/v2/alerts" | jq -e --arg s "$1" '[.[] | select(.labels.alertname=="AnomalyScoreHigh" and .labels.src==$s)] | length > 0' >/dev/null; }
now_ms() { date +%s%3N; }

step "simulate --mode scan --seconds 3 from $SCANNER"
T0=$(now_ms)
"$CLI" --defaults simulate --mode scan --seconds 3 --src "$SCANNER" >"$WORK/scan.out" 2>&1 &
SIM=$!
LAT=
while [ $(( $(now_ms) - T0 )) -lt 10000 ]; do
  if holds "$SCANNER"; then LAT=$(( $(now_ms) - T0 )); break; fi
  sleep 0.02
done
wait "$SIM"
say "$(cat "$WORK/scan.out")"
if [ -z "$LAT" ]; then echo "demo-ids: FAIL: no AnomalyScoreHigh alert for $SCANNER within 10 s" >&2; tail -20 "$WORK/daemon.log" >&2; exit 1; fi
if [ "$QUIET" = 1 ]; then echo "$LAT"; exit 0; fi
echo "Alertmanager holds AnomalyScoreHigh for $SCANNER ${LAT} ms after the scan started (target <= 1000 ms, limit 3000 ms)"
curl -fsS "$AM/api/v2/alerts" | jq -c --arg s "$SCANNER" '.[] | select(.labels.src==$s) | {labels, annotations}'
for _ in $(seq 1 100); do
  n=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1=="ironpost_notifier_alerts_total"{print $2}')
  [ "${n:-0}" != 0 ] && break; sleep 0.05
done
echo "notifier: ironpost_notifier_alerts_total=$n"; grep -h 'notifier: alert from Alertmanager' "$WORK/daemon.log" | tail -1

step "simulate --mode benign --seconds 3 from $BENIGN"
"$CLI" --defaults simulate --mode benign --seconds 3 --src "$BENIGN"
sleep 1   # two scoring ticks and an Alertmanager round trip
if holds "$BENIGN"; then echo "demo-ids: FAIL: benign traffic from $BENIGN raised an alert" >&2; exit 1; fi
echo "no alert for $BENIGN (benign)"
[ "$LAT" -le 3000 ] || { echo "demo-ids: FAIL: ${LAT} ms is over the 3 s limit" >&2; exit 1; }
echo "demo-ids: OK"
