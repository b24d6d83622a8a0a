#!/usr/bin/env bash
# Lab flows labelled by construction, through Ironpost's XDP telemetry path (see testdata/lab-flows/README.md).
#
#   bash training/lab_capture.sh RUN OUTDIR      RUN = a | b (two parameter sets: train / held out)
#
# Two network namespaces joined by a veth pair (198.18.x). The target namespace runs sshd, a small HTTP server
# and dnsmasq, and the XDP filter (crates/ebpf-engine/examples/xdp_flow_capture: the daemon's default load
# options) on its veth, which writes every packet event the kernel reports (TCP SYN without ACK) as
# PacketEvent JSON lines. The attacker namespace runs one tool per time slice (nmap -sS/-sT/-sU, masscan,
# hping3 SYN flood, hydra against sshd, benign curl / ssh / dig), slices 3 s apart (the window is 2 s). Then
# crates/anomaly-ids/examples/flow_features turns the events into the feature rows the daemon would score
# (FlowEvent::from_syn, WindowExtractor, 200 ms ticks), labelled by slice: OUTDIR/lab-RUN.csv, with
# OUTDIR/lab-RUN.slices.tsv and OUTDIR/lab-RUN.provenance.
#
# Needs root and the two examples built (debug):
#   cargo build -p ironpost-ebpf-engine --example xdp_flow_capture -p ironpost-anomaly-ids --example flow_features
# LAB_BIN_DIR overrides where they are ($CARGO_TARGET_DIR/debug/examples, else target/debug/examples).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${1:-}; OUTDIR=${2:-}
case "$RUN" in a|b) ;; *) echo "usage: $0 a|b OUTDIR" >&2; exit 2 ;; esac
[ -n "$OUTDIR" ] || { echo "usage: $0 a|b OUTDIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "lab_capture: needs root (namespaces, XDP)" >&2; exit 1; }
BIN=${LAB_BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug/examples}
for b in xdp_flow_capture; do
  [ -x "$BIN/$b" ] || { echo "lab_capture: $BIN/$b not built (see the header of $0)" >&2; exit 1; }
done

# The tools, installed once (Debian 12 packages; dnsmasq-base is the binary without the system service).
PACKAGES=(nmap masscan hping3 hydra dnsutils dnsmasq-base openssh-server openssh-client curl iproute2 python3)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab_capture: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
ID=$$
NET=198.18.$((160 + ID % 40))
A_IP=$NET.1 T_IP=$NET.2
NS_A=iplab-a-$ID NS_T=iplab-t-$ID
VA=ipla$((ID % 100000)) VT=iplt$((ID % 100000))
WORK=$(mktemp -d /tmp/ironpost-lab.XXXXXX)
PIDS=()
cleanup() {
  set +e
  [ -n "${CAP_PID:-}" ] && kill -0 "$CAP_PID" 2>/dev/null && { echo quit >&3; wait "$CAP_PID"; }
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_T" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_A"; ip netns add "$NS_T"
ip link add "$VA" type veth peer name "$VT"
ip link set "$VA" netns "$NS_A"; ip link set "$VT" netns "$NS_T"
ip -n "$NS_A" addr add "$A_IP/24" dev "$VA"; ip -n "$NS_T" addr add "$T_IP/24" dev "$VT"
for ns in "$NS_A" "$NS_T"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$VA" up; ip -n "$NS_T" link set "$VT" up
A() { ip netns exec "$NS_A" "$@"; }
T() { ip netns exec "$NS_T" "$@"; }
until A ping -c1 -W1 "$T_IP" >/dev/null 2>&1; do sleep 0.1; done
T_MAC=$(ip -n "$NS_T" -o link show "$VT" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')

# Services in the target namespace, started with `ip netns exec` directly (it execs the service, so $! is the
# service's pid and cleanup can stop it; a shell function run with & would leave its child behind).
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
mkdir -p /run/sshd
cat >"$WORK/sshd_config" <<EOF
Port 22
ListenAddress $T_IP
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 100:30:200
MaxAuthTries 6
LoginGraceTime 10
EOF
ip netns exec "$NS_T" /usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" & PIDS+=($!)
mkdir -p "$WORK/www"; for i in $(seq 1 20); do head -c $((i * 700)) /dev/zero | tr '\0' x >"$WORK/www/p$i.html"; done
ip netns exec "$NS_T" python3 -m http.server 8080 --bind "$T_IP" --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
ip netns exec "$NS_T" dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root --bind-interfaces --listen-address="$T_IP" \
  --port 53 --address=/lab.test/"$T_IP" --pid-file="$WORK/dnsmasq.pid" 2>"$WORK/dnsmasq.log" & PIDS+=($!)
until A bash -c "exec 3<>/dev/tcp/$T_IP/22 && exec 3<>/dev/tcp/$T_IP/8080" 2>/dev/null; do sleep 0.1; done
until A dig +short +time=1 +tries=1 "@$T_IP" x.lab.test >/dev/null 2>&1; do sleep 0.1; done
sleep 3   # the readiness probes' SYNs happen before the capture starts anyway; keep a gap

# The capture.
mkfifo "$WORK/cap.in"
ip netns exec "$NS_T" "$BIN/xdp_flow_capture" --iface "$VT" --mode skb --out "$WORK/events.jsonl" <"$WORK/cap.in" >"$WORK/cap.out" 2>&1 &
CAP_PID=$!
exec 3>"$WORK/cap.in"
until grep -q '^ready' "$WORK/cap.out"; do kill -0 "$CAP_PID" 2>/dev/null || { cat "$WORK/cap.out" >&2; exit 1; }; sleep 0.05; done

SLICES="$OUTDIR/lab-$RUN.slices.tsv"
: >"$SLICES"
# slice LABEL SECONDS CMD...: run CMD in the attacker namespace for at most SECONDS, record its time slice.
slice() {
  local label=$1 secs=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  # The benign loops stop at LAB_UNTIL by themselves; timeout (TERM, then KILL) bounds the tools.
  LAB_UNTIL=$(( $(date +%s) + secs )) timeout -k 2 "$secs" ip netns exec "$NS_A" "$@" >"$WORK/$label.log" 2>&1 || true
  t1=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$label" "$t0" "$t1" >>"$SLICES"
  cp "$WORK/$label.log" "$OUTDIR/lab-$RUN.$label.log"
  echo "lab_capture: $label $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f s", b-a}')"
  sleep 3
}
benign_http() {  # a client: one page every 0.2-1 s, sometimes a page with 4 parallel fetches
  local i=0
  while [ "$(date +%s)" -lt "$LAB_UNTIL" ]; do
    i=$((i + 1))
    if [ $((i % 5)) -eq 0 ]; then
      for j in 1 2 3 4; do curl -s -o /dev/null --max-time 2 "http://$T_IP:8080/p$(( (i + j) % 20 + 1 )).html" & done; wait
    else
      curl -s -o /dev/null --max-time 2 "http://$T_IP:8080/p$(( i % 20 + 1 )).html"
    fi
    sleep "0.$(( (i * 37) % 8 + 2 ))"
  done
}
benign_ssh() {   # interactive logins: one every ~1 s
  while [ "$(date +%s)" -lt "$LAB_UNTIL" ]; do
    ssh -q -i "$WORK/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
      -o ConnectTimeout=2 "root@$T_IP" true || true
    sleep 1
  done
}
benign_dns() {   # a resolver client: UDP queries, every 4th over TCP
  local i=0
  while [ "$(date +%s)" -lt "$LAB_UNTIL" ]; do
    i=$((i + 1))
    if [ $((i % 4)) -eq 0 ]; then dig +tcp +short +time=1 +tries=1 "@$T_IP" "h$i.lab.test" >/dev/null || true
    else dig +short +time=1 +tries=1 "@$T_IP" "h$i.lab.test" >/dev/null || true; fi
    sleep 0.2
  done
}
export -f benign_http benign_ssh benign_dns
export T_IP WORK
seq 1 400 | sed 's/^/pw/' >"$WORK/passwords"

if [ "$RUN" = a ]; then
  PORTS=1-2000 RATE=400 MRATE=400 HPING=u1000 HPORT=80
else
  PORTS=1-1024,3000-4000 RATE=150 MRATE=1000 HPING=u400 HPORT=443
fi
slice benign_http 10 bash -c benign_http
slice nmap_sS 10 nmap -n -Pn -sS --max-retries 1 --max-rate "$RATE" -p "$PORTS" "$T_IP"
slice benign_ssh 10 bash -c benign_ssh
slice nmap_sT 10 nmap -n -Pn -sT --max-retries 1 --max-rate "$RATE" -p "$PORTS" "$T_IP"
slice benign_dns 8 bash -c benign_dns
slice nmap_sU 8 nmap -n -Pn -sU --max-retries 0 --max-rate 200 -p 1-1000 "$T_IP"
slice masscan 10 masscan "$T_IP" -p"$PORTS" --rate "$MRATE" --router-mac "$T_MAC" -e "$VA" --wait 1
slice hping3_syn_flood 5 hping3 -q -S -p "$HPORT" -i "$HPING" "$T_IP"
slice hydra_ssh 12 bash -c "cd $WORK && hydra -q -I -l root -P $WORK/passwords -t 4 ssh://$T_IP"

echo quit >&3
wait "$CAP_PID"; CAP_PID=
cat "$WORK/cap.out"
until [ -x "$BIN/flow_features" ]; do echo "lab_capture: waiting for $BIN/flow_features" >&2; sleep 10; done
cp "$WORK/events.jsonl" "$OUTDIR/lab-$RUN.events.jsonl"
"$BIN/flow_features" --events "$WORK/events.jsonl" --slices "$SLICES" --run "$RUN" >"$OUTDIR/lab-$RUN.csv"

{
  echo "run: $RUN"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -r)"
  echo "script: training/lab_capture.sh (git $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "capture: $(cat "$WORK/cap.out" | tail -1), XDP skb mode on the target's veth, LoadOptions::default()"
  echo "parameters: ports=$PORTS nmap_max_rate=$RATE masscan_rate=$MRATE hping3_interval=$HPING hping3_port=$HPORT"
  echo "nmap: $(nmap --version | head -1)"
  echo "masscan: $(dpkg-query -W -f='${Version}' masscan)"
  echo "hping3: $(dpkg-query -W -f='${Version}' hping3)"
  echo "hydra: $(dpkg-query -W -f='${Version}' hydra)"
  echo "openssh-server: $(dpkg-query -W -f='${Version}' openssh-server)"
  echo "curl: $(dpkg-query -W -f='${Version}' curl)"
  echo "dnsutils (dig): $(dpkg-query -W -f='${Version}' dnsutils)"
  echo "dnsmasq-base: $(dpkg-query -W -f='${Version}' dnsmasq-base)"
  echo "rows per label:"
  tail -n +2 "$OUTDIR/lab-$RUN.csv" | cut -d, -f2 | sort | uniq -c | sed 's/^/  /'
} >"$OUTDIR/lab-$RUN.provenance"
cat "$OUTDIR/lab-$RUN.provenance"
