#!/usr/bin/env bash
# Starts, stops or reports the real services Ironpost's tests and demo use, each on loopback,
# idempotently, waiting until each one answers:
#   dockerd, PostgreSQL 15 (role/database ironpost_test), Redis, nats-server -js,
#   Alertmanager (:9093, deploy/alertmanager/alertmanager.yml), Prometheus (:9090,
#   deploy/prometheus/prometheus.yml), rsyslog as a TCP collector (:5514, deploy/rsyslog/),
#   systemd-journald standalone (no systemd as PID 1; the machine's journal at /run/systemd/journal).
# State lives under $IRONPOST_SERVICES_DIR (default /var/tmp/ironpost-services).
# With systemd as PID 1, Debian's own units for nats-server, prometheus, prometheus-alertmanager
# and redis-server are stopped and masked first (see "packaged units" below); a listener on one of
# our ports that is not ours (no JetStream, another Prometheus/Alertmanager config) is an error.
# Usage: scripts/services.sh start|stop|status [SERVICE...]
set -euo pipefail

DIR=${IRONPOST_SERVICES_DIR:-/var/tmp/ironpost-services}
ALL=(docker postgres redis nats alertmanager prometheus rsyslog journald)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_VERSION=15
PG_ROLE=ironpost_test
PG_PASSWORD=ironpost_test
PG_DB=ironpost_test

log() { echo "services: $*"; }

wait_for() { # wait_for NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name did not answer within ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Whether anything accepts TCP connections on 127.0.0.1:PORT.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Refuses to go on, saying why; `set -e` stops the script at the caller.
foreign() { # foreign NAME PORT REASON UNIT
  log "$1: 127.0.0.1:$2 is taken by a server that is not ours ($3)." >&2
  log "$1: stop it (Debian's unit: systemctl disable --now $4; systemctl mask $4) and run this again." >&2
  return 1
}

# --- packaged units -------------------------------------------------------------------------
# Debian's packages enable and start their own services when systemd runs: nats-server on 4222
# without JetStream, prometheus and prometheus-alertmanager on 9090/9093 with Debian's configs,
# redis-server on 6379 with persistence. Each is stopped and masked (so that neither a reboot nor
# a package upgrade brings it back) before ours starts on its port. Without systemd as PID 1
# (containers, CI) nothing runs them: scripts/setup.sh keeps the install from starting them.
# docker.service and postgresql@15-main are used as they are (ours are the same daemons).
declare -A PACKAGED_UNIT=([nats]=nats-server [prometheus]=prometheus
                          [alertmanager]=prometheus-alertmanager [redis]=redis-server)
systemd_booted() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; } # sd_booted(3)
quiet_packaged_unit() { # quiet_packaged_unit SERVICE
  local unit=${PACKAGED_UNIT[$1]:-}
  [ -n "$unit" ] && systemd_booted || return 0
  local state
  state=$(systemctl show -p LoadState --value "$unit.service" 2>/dev/null) || return 0
  case $state in
    not-found|"") return 0 ;;  # package not installed
    masked) systemctl is-active -q "$unit.service" || return 0 ;;
  esac
  log "$1: stopping and masking Debian's $unit unit (it listens where ours must)"
  # `mask` fails when the unit file lives in /etc/systemd/system; disabling is the fallback.
  systemctl mask --now "$unit.service" >/dev/null 2>&1 || systemctl disable --now "$unit.service"
  systemctl stop "$unit.service" 2>/dev/null || true
}

# --- docker ---------------------------------------------------------------------------------
docker_up() { /usr/bin/docker info >/dev/null 2>&1; }
start_docker() {
  if docker_up; then log "docker already running"; return; fi
  mkdir -p "$DIR/docker"
  # A dockerd that died leaves its PID file behind and the next one refuses to start.
  for f in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    if [ -f "$f" ] && ! kill -0 "$(cat "$f")" 2>/dev/null; then rm -f "$f"; fi
  done
  nohup dockerd --host=unix:///var/run/docker.sock >"$DIR/docker/dockerd.log" 2>&1 </dev/null &
  echo $! >"$DIR/docker/dockerd.pid"
  wait_for docker 60 docker_up || { tail -20 "$DIR/docker/dockerd.log"; return 1; }
  log "docker started"
}
stop_docker() {
  if pid_alive "$DIR/docker/dockerd.pid"; then kill "$(cat "$DIR/docker/dockerd.pid")"; log "docker stopped"; fi
}
status_docker() { docker_up && echo "docker: up" || echo "docker: down"; }

# --- postgres -------------------------------------------------------------------------------
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
pg_psql() { (cd /tmp && runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"); }
start_postgres() {
  if ! pg_lsclusters -h | awk -v v=$PG_VERSION '$1==v && $2=="main"{f=1} END{exit !f}'; then
    pg_createcluster $PG_VERSION main >/dev/null
  fi
  if [ "$(pg_lsclusters -h | awk -v v=$PG_VERSION '$1==v && $2=="main"{print $4}')" != online ]; then
    pg_ctlcluster $PG_VERSION main start || true
  fi
  wait_for postgres 60 pg_up
  if [ "$(pg_psql -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_ROLE'")" != 1 ]; then
    pg_psql -c "CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
  fi
  if [ "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != 1 ]; then
    pg_psql -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE"
  fi
  log "postgres up (postgresql://$PG_ROLE:***@127.0.0.1:5432/$PG_DB)"
}
stop_postgres() {
  if [ "$(pg_lsclusters -h | awk -v v=$PG_VERSION '$1==v && $2=="main"{print $4}')" = online ]; then
    pg_ctlcluster $PG_VERSION main stop || true
    log "postgres stopped"
  fi
}
status_postgres() { pg_up && echo "postgres: up" || echo "postgres: down"; }

# --- redis ----------------------------------------------------------------------------------
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
start_redis() {
  quiet_packaged_unit redis
  if redis_up; then log "redis already running"; return; fi
  port_taken 6379 && foreign redis 6379 "it does not answer PING" redis-server
  mkdir -p "$DIR/redis"
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --dir "$DIR/redis" --daemonize no \
    >"$DIR/redis/redis.log" 2>&1 </dev/null &
  echo $! >"$DIR/redis/redis.pid"
  wait_for redis 30 redis_up
  log "redis started"
}
stop_redis() { if pid_alive "$DIR/redis/redis.pid"; then kill "$(cat "$DIR/redis/redis.pid")"; log "redis stopped"; fi; }
status_redis() { redis_up && echo "redis: up" || echo "redis: down"; }

# --- nats -----------------------------------------------------------------------------------
nats_up() { curl -fsS http://127.0.0.1:8222/jsz 2>/dev/null | jq -e '.disabled != true' >/dev/null; }
start_nats() {
  quiet_packaged_unit nats
  if nats_up; then log "nats already running"; return; fi
  # Debian's nats-server.conf has no monitoring port and no JetStream: it answers on 4222 only.
  if port_taken 4222 || port_taken 8222; then
    foreign nats 4222 "no JetStream reported on http://127.0.0.1:8222/jsz" nats-server
  fi
  mkdir -p "$DIR/nats"
  nats-server -a 127.0.0.1 -p 4222 -m 8222 -js -sd "$DIR/nats" -l "$DIR/nats/nats.log" >/dev/null 2>&1 </dev/null &
  echo $! >"$DIR/nats/nats.pid"
  wait_for nats 30 nats_up
  log "nats started (JetStream on)"
}
stop_nats() { if pid_alive "$DIR/nats/nats.pid"; then kill "$(cat "$DIR/nats/nats.pid")"; log "nats stopped"; fi; }
status_nats() {
  if nats_up; then echo "nats: up"
  elif port_taken 4222; then echo "nats: port 4222 taken by a server without JetStream (not ours)"
  else echo "nats: down"; fi
}

# --- alertmanager ---------------------------------------------------------------------------
am_up() { curl -fsS http://127.0.0.1:9093/-/ready >/dev/null 2>&1; }
# Ours routes to the `ironpost-notifier` receiver (deploy/alertmanager/alertmanager.yml).
am_ours() {
  curl -fsS http://127.0.0.1:9093/api/v2/status 2>/dev/null |
    jq -e '.config.original | test("name: ironpost-notifier")' >/dev/null
}
start_alertmanager() {
  quiet_packaged_unit alertmanager
  if am_up; then
    am_ours || foreign alertmanager 9093 "its config has no receiver ironpost-notifier" prometheus-alertmanager
    log "alertmanager already running"; return
  fi
  port_taken 9093 && foreign alertmanager 9093 "it does not answer /-/ready" prometheus-alertmanager
  mkdir -p "$DIR/alertmanager"
  # --cluster.listen-address= (empty): no gossip, or the first notification waits ~10 s.
  prometheus-alertmanager --config.file="$ROOT/deploy/alertmanager/alertmanager.yml" \
    --storage.path="$DIR/alertmanager" --web.listen-address=127.0.0.1:9093 --cluster.listen-address= \
    >"$DIR/alertmanager/alertmanager.log" 2>&1 </dev/null &
  echo $! >"$DIR/alertmanager/alertmanager.pid"
  wait_for alertmanager 30 am_up
  log "alertmanager started (http://127.0.0.1:9093)"
}
stop_alertmanager() { if pid_alive "$DIR/alertmanager/alertmanager.pid"; then kill "$(cat "$DIR/alertmanager/alertmanager.pid")"; log "alertmanager stopped"; fi; }
status_alertmanager() {
  if am_up; then am_ours && echo "alertmanager: up" || echo "alertmanager: up, another config (not ours)"
  else echo "alertmanager: down"; fi
}

# --- prometheus -----------------------------------------------------------------------------
prom_up() { curl -fsS http://127.0.0.1:9090/-/ready >/dev/null 2>&1; }
# Ours scrapes the job `ironpost` (deploy/prometheus/prometheus.yml); Debian's scrapes itself.
prom_ours() {
  curl -fsS http://127.0.0.1:9090/api/v1/status/config 2>/dev/null |
    jq -e '.data.yaml | test("job_name: ironpost\\b")' >/dev/null
}
start_prometheus() {
  quiet_packaged_unit prometheus
  if prom_up; then
    prom_ours || foreign prometheus 9090 "its config has no scrape job ironpost" prometheus
    log "prometheus already running"; return
  fi
  port_taken 9090 && foreign prometheus 9090 "it does not answer /-/ready" prometheus
  mkdir -p "$DIR/prometheus"
  prometheus --config.file="$ROOT/deploy/prometheus/prometheus.yml" --storage.tsdb.path="$DIR/prometheus" \
    --web.listen-address=127.0.0.1:9090 >"$DIR/prometheus/prometheus.log" 2>&1 </dev/null &
  echo $! >"$DIR/prometheus/prometheus.pid"
  wait_for prometheus 60 prom_up
  log "prometheus started (http://127.0.0.1:9090)"
}
stop_prometheus() { if pid_alive "$DIR/prometheus/prometheus.pid"; then kill "$(cat "$DIR/prometheus/prometheus.pid")"; log "prometheus stopped"; fi; }
status_prometheus() {
  if prom_up; then prom_ours && echo "prometheus: up" || echo "prometheus: up, another config (not ours)"
  else echo "prometheus: down"; fi
}

# --- rsyslog (a TCP collector writing what it receives to $DIR/rsyslog/ironpost-alerts.log) ---
rsyslog_up() { (exec 3<>/dev/tcp/127.0.0.1/5514) 2>/dev/null; }
start_rsyslog() {
  if pid_alive "$DIR/rsyslog/rsyslogd.pid" && rsyslog_up; then log "rsyslog already running"; return; fi
  mkdir -p "$DIR/rsyslog"
  { echo "global(workDirectory=\"$DIR/rsyslog\")"
    sed "s|@DIR@|$DIR/rsyslog|g" "$ROOT/deploy/rsyslog/ironpost-collector.conf"; } >"$DIR/rsyslog/rsyslog.conf"
  rsyslogd -n -f "$DIR/rsyslog/rsyslog.conf" -i "$DIR/rsyslog/rsyslogd.pid" \
    >"$DIR/rsyslog/rsyslogd.log" 2>&1 </dev/null &
  wait_for rsyslog 30 rsyslog_up
  log "rsyslog started (tcp 127.0.0.1:5514 -> $DIR/rsyslog/ironpost-alerts.log)"
}
stop_rsyslog() { if pid_alive "$DIR/rsyslog/rsyslogd.pid"; then kill "$(cat "$DIR/rsyslog/rsyslogd.pid")"; log "rsyslog stopped"; fi; }
status_rsyslog() { rsyslog_up && echo "rsyslog: up" || echo "rsyslog: down"; }

# --- journald (standalone: the host's journal, for the log pipeline's journald source) ------
# Without systemd as PID 1 nothing starts journald; it then runs on its own and serves the usual
# sockets (/run/systemd/journal/{socket,stdout,dev-log}). A journald already running (started by
# systemd or anyone else) is left alone and never stopped by this script.
journald_up() { [ -S /run/systemd/journal/socket ] && pgrep -x systemd-journal >/dev/null; }
start_journald() {
  if journald_up; then log "journald already running"; return; fi
  mkdir -p "$DIR/journald" /run/systemd/journal
  nohup /lib/systemd/systemd-journald >"$DIR/journald/journald.log" 2>&1 </dev/null &
  echo $! >"$DIR/journald/journald.pid"
  wait_for journald 30 journald_up || { tail -20 "$DIR/journald/journald.log"; return 1; }
  # As systemd's journald dev-log socket unit does: syslog(3) callers (sshd, logger) reach journald.
  if [ ! -e /dev/log ] && [ ! -L /dev/log ]; then ln -s /run/systemd/journal/dev-log /dev/log; fi
  log "journald started (/run/systemd/journal/socket)"
}
stop_journald() {
  if pid_alive "$DIR/journald/journald.pid"; then kill "$(cat "$DIR/journald/journald.pid")"; rm -f "$DIR/journald/journald.pid"; log "journald stopped"; fi
}
status_journald() { journald_up && echo "journald: up" || echo "journald: down"; }

cmd=${1:-status}
shift || true
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${ALL[@]}")
case "$cmd" in
  start) for s in "${services[@]}"; do "start_$s"; done ;;
  stop) for s in "${services[@]}"; do "stop_$s"; done ;;
  status) for s in "${services[@]}"; do "status_$s"; done ;;
  *) echo "usage: $0 start|stop|status [${ALL[*]}]" >&2; exit 2 ;;
esac
