#!/usr/bin/env bash
# Container guard benchmark: alert emitted -> container paused, through the guard against the real
# dockerd (bench/README.md, "Container isolation").
#
#   bench/container.sh [--alerts N]
#
#   --alerts N   alerts (each followed by a restore) [BENCH_ALERTS, 100]
# Starts dockerd through scripts/services.sh and builds the busybox test image FROM scratch.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
unset RUST_BACKTRACE

alerts=${BENCH_ALERTS:-100}
while [ $# -gt 0 ]; do
  case $1 in
    --alerts) alerts=${2:?--alerts needs a number}; shift 2 ;;
    *) sed -n '5,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

bash "$ROOT/scripts/services.sh" start docker >/dev/null
export DOCKER_BUILDKIT=0
img=$(mktemp -d)
name=ironpost-bench-guard-$$
cleanup() { /usr/bin/docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$img"; }
trap cleanup EXIT
cp /bin/busybox "$img/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nENV PATH=/bin\n' >"$img/Dockerfile"
/usr/bin/docker build -q -t ironpost-test-bb "$img" >/dev/null
/usr/bin/docker run -d --name "$name" ironpost-test-bb sleep 3600 >/dev/null

"$CARGO" build --release --locked -q -p ironpost-container-guard --example isolate_bench
bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/isolate_bench
echo "== container isolation: $alerts alerts, docker $(/usr/bin/docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}})') =="
"$bin" "$name" "$alerts"
