#!/usr/bin/env bash
# Drop-rate benchmark: a UDP flood over a veth pair between two network namespaces, dropped on the
# receiving side by (a) the XDP filter in skb mode, (b) the XDP filter in native mode, (c) one
# iptables rule per banned address, (d) an ipset + one iptables rule, (e) an nft set + one rule.
# Every variant bans the same BENCH_ENTRIES (10000) addresses and faces the same generator for the
# same BENCH_DURATION (5) seconds, BENCH_ROUNDS (1) times in turn. Called by bench/run.sh (see
# bench/README.md); needs root.
#
#   bench/xdp_drop.sh PATH/TO/xdp_drop_helper
#
# Lab: namespaces ipbenchA (sender, ipbA0 198.18.0.1/24) and ipbenchB (receiver, ipbB0
# 198.18.0.2/24). Nothing outside those two namespaces is configured: every iptables, ipset and
# nft command runs inside ipbenchB, and deleting the namespaces (on exit, even on failure)
# removes the veth pair and all of that state.
set -euo pipefail

HELPER=${1:?usage: xdp_drop.sh PATH/TO/xdp_drop_helper}
DURATION=${BENCH_DURATION:-5}
ENTRIES=${BENCH_ENTRIES:-10000}
ROUNDS=${BENCH_ROUNDS:-1}
NS_TX=ipbenchA
NS_RX=ipbenchB
IF_TX=ipbA0
IF_RX=ipbB0
ADDR_TX=198.18.0.1
ADDR_RX=198.18.0.2
# The flood comes from these 256 sources, all of them in the banned list.
FLOOD_NET=198.18.200
HZ=$(getconf CLK_TCK)

die() { echo "xdp_drop: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, XDP, netfilter)"
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_DURATION must be a number of seconds, not '$DURATION'"
[[ $ENTRIES =~ ^[0-9]+$ ]] && [ "$ENTRIES" -ge 256 ] && [ "$ENTRIES" -le 100000 ] ||
  die "BENCH_ENTRIES must be between 256 and 100000, not '$ENTRIES'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, not '$ROUNDS'"
[ -x "$HELPER" ] || die "helper $HELPER is not an executable (build the examples first)"
for tool in ip trafgen iptables-restore iptables-save ipset nft jq awk shuf timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh (make setup)"
done

WORK=$(mktemp -d /tmp/ipbench.XXXXXX)

cleanup() {
  local rc=$?
  if [ -n "${HELPER_PID:-}" ]; then
    kill "$HELPER_PID" 2>/dev/null || true
    wait "$HELPER_PID" 2>/dev/null || true
  fi
  # Deleting the namespaces removes the veth pair and every rule, set and table inside them.
  ip netns del "$NS_TX" 2>/dev/null || true
  ip netns del "$NS_RX" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- lab ----------------------------------------------------------------------------------------

# Namespaces by these names are this benchmark's own (from an interrupted run): start afresh.
ip netns del "$NS_TX" 2>/dev/null || true
ip netns del "$NS_RX" 2>/dev/null || true
ip netns add "$NS_TX"
ip netns add "$NS_RX"
for ns in "$NS_TX" "$NS_RX"; do
  # No IPv6 on the lab links: no router solicitations or MLD reports in the counters.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
# Created directly inside the namespaces: no interface ever appears in the host's namespace.
ip link add "$IF_TX" netns "$NS_TX" type veth peer name "$IF_RX" netns "$NS_RX"
ip -n "$NS_TX" addr add "$ADDR_TX/24" dev "$IF_TX"
ip -n "$NS_RX" addr add "$ADDR_RX/24" dev "$IF_RX"
ip -n "$NS_TX" link set "$IF_TX" up
ip -n "$NS_RX" link set "$IF_RX" up

# The banned list: the 256 flood sources plus random addresses in 198.18.0.0/15 (never in
# 198.18.0.0/24, the lab link), shuffled with a fixed seed so the flood sources sit at random
# positions of the iptables chain (on average half-way down it) and every run uses the same list.
awk -v n="$ENTRIES" -v net="$FLOOD_NET" 'BEGIN {
  srand(20240601)
  for (i = 0; i < 256; i++) { a = net "." i; seen[a] = 1; print a; c++ }
  while (c < n) {
    x = int(rand() * 131072)
    if (x < 256) continue
    a = sprintf("198.%d.%d.%d", 18 + int(x / 65536), int(x / 256) % 256, x % 256)
    if (a in seen) continue
    seen[a] = 1; print a; c++
  }
}' | shuf --random-source=<(yes) >"$WORK/banned.txt"
[ "$(wc -l <"$WORK/banned.txt")" -eq "$ENTRIES" ] || die "generated a banned list of the wrong size"

# The generator: 60-byte UDP frames (the minimum Ethernet frame without FCS) to ipbB0's MAC,
# source address cycling through $FLOOD_NET.0-255, valid IPv4 header checksum.
mac_rx=$(ip -n "$NS_RX" -j link show "$IF_RX" | jq -r '.[0].address')
mac_bytes=$(sed 's/^/0x/; s/:/, 0x/g' <<<"$mac_rx")
cat >"$WORK/flood.trafgen" <<EOF
{
  $mac_bytes, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x0800),
  0x45, 0x00, c16(46), c16(0), c16(0x4000), 64, 17, csumip(14, 33),
  ${FLOOD_NET//./, }, dinc(0, 255, 1), ${ADDR_RX//./, },
  c16(40000), c16(9), c16(26), c16(0),
  fill(0x5a, 18)
}
EOF

# ---- measurement --------------------------------------------------------------------------------

rx_packets() { ip -n "$NS_RX" -s -j link show "$IF_RX" | jq '.[0].stats64.rx.packets'; }
# Busy and total jiffies of the whole machine, from the first line of /proc/stat.
cpu_jiffies() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit }' /proc/stat; }
now_ns() { date +%s%N; }
# CPU seconds (user + system) of every ksoftirqd thread: receive work the kernel deferred.
ksoftirqd_s() {
  local pid sum=0
  for pid in $(pgrep '^ksoftirqd/'); do
    sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  awk -v j="$sum" -v hz="$HZ" 'BEGIN { printf "%.3f", j / hz }'
}
# CPU seconds (user + system) of this shell's finished children, from the `times` output in $1.
children_s() { awk 'NR == 2 { split($1, u, /[ms]/); split($2, k, /[ms]/); printf "%.3f", u[1] * 60 + u[2] + k[1] * 60 + k[2] }' "$1"; }

RESULTS="$WORK/results"
: >"$RESULTS"

# measure KEY LABEL LOAD_SECONDS COUNTER_FN: one flood of $DURATION seconds; COUNTER_FN prints the
# variant's cumulative dropped-packet counter.
measure() {
  local key=$1 label=$2 load_s=$3 counter=$4
  local c0 c1 rx0 rx1 busy0 tot0 busy1 tot1 t0 t1 soft0 soft1 kids0 kids1 rc=0
  c0=$($counter)
  rx0=$(rx_packets)
  soft0=$(ksoftirqd_s)
  read -r busy0 tot0 < <(cpu_jiffies)
  times >"$WORK/times.0" # in this shell, not a subshell: it must see trafgen as a child
  t0=$(now_ns)
  ip netns exec "$NS_TX" timeout -s INT "$DURATION" \
    trafgen -i "$WORK/flood.trafgen" -o "$IF_TX" --cpus 1 --no-sock-mem --notouch-irq --seed 1 >"$WORK/trafgen.$key.log" 2>&1 || rc=$?
  t1=$(now_ns)
  times >"$WORK/times.1"
  read -r busy1 tot1 < <(cpu_jiffies)
  soft1=$(ksoftirqd_s)
  kids0=$(children_s "$WORK/times.0")
  kids1=$(children_s "$WORK/times.1")
  # timeout exits 124 when it had to stop trafgen, which is the normal end here.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
    cat "$WORK/trafgen.$key.log" >&2
    die "trafgen failed ($rc) in variant $label"
  fi
  sleep 0.2 # frames still queued on the receiver
  rx1=$(rx_packets)
  c1=$($counter)
  echo "$key|$label|$load_s|$((rx1 - rx0))|$((c1 - c0))|$((t1 - t0))|$((busy1 - busy0))|$((tot1 - tot0))|$(awk -v a="$kids1" -v b="$kids0" -v c="$soft1" -v d="$soft0" 'BEGIN { print a - b + c - d }')" >>"$RESULTS"
  printf '  %-32s done: %d frames offered, %d dropped\n' "$label" "$((rx1 - rx0))" "$((c1 - c0))"
}

elapsed_s() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# -- (a), (b): the XDP filter through the helper, which reports its stats map on request.
HELPER_PID=
xdp_start() {
  local mode=$1
  coproc XDPH { exec ip netns exec "$NS_RX" "$HELPER" --iface "$IF_RX" --mode "$mode" --list "$WORK/banned.txt" 2>"$WORK/helper.err"; }
  HELPER_PID=$XDPH_PID
  local line=
  read -r -t 120 line <&"${XDPH[0]}" || true
  if [[ $line != ready* ]]; then
    cat "$WORK/helper.err" >&2
    die "xdp_drop_helper did not attach in $mode mode"
  fi
}
xdp_drops() {
  local line=
  echo stats >&"${XDPH[1]}"
  read -r -t 10 line <&"${XDPH[0]}" || die "no stats from xdp_drop_helper"
  sed -n 's/.* drops=\([0-9]*\).*/\1/p' <<<"$line"
}
xdp_stop() {
  echo quit >&"${XDPH[1]}"
  wait "$HELPER_PID" || die "xdp_drop_helper failed: $(cat "$WORK/helper.err")"
  HELPER_PID=
}

# -- (c), (d): iptables in the raw table's PREROUTING chain (before conntrack and routing: the
# earliest iptables hook, as close to XDP as iptables gets). The counter is the sum of the DROP
# rules' packet counters.
ipt_drops() {
  ip netns exec "$NS_RX" iptables-save -c -t raw | awk '/ -j DROP/ { split(substr($1, 2), c, ":"); s += c[1] } END { print s + 0 }'
}
# -- (e): nft, a table of its own with a base chain on prerouting at raw priority.
nft_drops() {
  ip netns exec "$NS_RX" nft -j list chain ip ipbench prerouting |
    jq '[.. | objects | .counter? | objects | .packets] | add // 0'
}
netfilter_reset() {
  ip netns exec "$NS_RX" nft flush ruleset # also removes the tables iptables-nft created
  if ip netns exec "$NS_RX" ipset list -n 2>/dev/null | grep -qx ipbench; then
    # The set match is released asynchronously after the rule goes.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      ip netns exec "$NS_RX" ipset destroy ipbench 2>/dev/null && break
      sleep 0.2
    done
  fi
}

# One function per variant: set up, flood, tear down (the load time includes the setup).
variant_xdp() {
  local mode=$1 key=$2 label=$3 t load
  t=$(now_ns)
  xdp_start "$mode"
  load=$(elapsed_s "$t")
  measure "$key" "$label" "$load" xdp_drops
  xdp_stop
}
variant_iptables() {
  local t load
  t=$(now_ns)
  {
    echo '*raw'
    echo ':PREROUTING ACCEPT [0:0]'
    sed 's|.*|-A PREROUTING -s &/32 -j DROP|' "$WORK/banned.txt"
    echo COMMIT
  } | ip netns exec "$NS_RX" iptables-restore
  load=$(elapsed_s "$t")
  measure iptables "(c) iptables, $ENTRIES rules" "$load" ipt_drops
  netfilter_reset
}
variant_ipset() {
  local t load
  t=$(now_ns)
  {
    echo "create ipbench hash:net family inet hashsize 16384 maxelem $((ENTRIES * 2))"
    sed 's/^/add ipbench /' "$WORK/banned.txt"
  } | ip netns exec "$NS_RX" ipset restore
  ip netns exec "$NS_RX" iptables -t raw -A PREROUTING -m set --match-set ipbench src -j DROP
  load=$(elapsed_s "$t")
  measure ipset "(d) ipset hash:net + 1 rule" "$load" ipt_drops
  netfilter_reset
}
variant_nft() {
  local t load
  t=$(now_ns)
  {
    echo 'table ip ipbench {'
    echo "  set banned { type ipv4_addr; size $((ENTRIES * 2)); elements = { $(paste -sd, "$WORK/banned.txt") } }"
    echo '  chain prerouting { type filter hook prerouting priority raw; policy accept; ip saddr @banned counter drop; }'
    echo '}'
  } | ip netns exec "$NS_RX" nft -f -
  load=$(elapsed_s "$t")
  measure nft "(e) nft set + 1 rule" "$load" nft_drops
  netfilter_reset
}

echo "== drop rate on a veth pair: UDP flood from $FLOOD_NET.0/24, $ENTRIES banned addresses =="
echo "${DURATION} s per variant, $ROUNDS round(s) of all five variants"
echo "kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $(iptables -V)"
echo "generator: trafgen $(trafgen -v 2>/dev/null | sed -n 's/^trafgen \([0-9.]*\).*/\1/p' | head -1) (netsniff-ng), 1 process, TX_RING, 60-byte frames"

for round in $(seq "$ROUNDS"); do
  [ "$ROUNDS" -eq 1 ] || echo " round $round/$ROUNDS"
  variant_xdp skb xdp_skb "(a) XDP skb (generic) mode"
  variant_xdp native xdp_native "(b) XDP native (driver) mode"
  variant_iptables
  variant_ipset
  variant_nft
done

# ---- report -------------------------------------------------------------------------------------

# Rounds are summed per variant: rates are totals over total time (a time-weighted mean).
echo
awk -F'|' -v hz="$HZ" '
{
  k = $1
  if (!(k in label)) { order[++n] = k; label[k] = $2 }
  load[k] += $3; offered[k] += $4; dropped[k] += $5; secs[k] += $6 / 1e9; busy[k] += $7 / hz; flood[k] += $9; rounds[k]++
}
function per_m(cpu, drops) { return drops > 0 ? sprintf("%.3f", cpu / (drops / 1e6)) : "n/a" }
END {
  printf "%-30s %7s %12s %12s %8s %6s %12s %12s\n", "", "load", "offered", "dropped", "dropped", "busy", "CPU s per", "flood CPU s"
  printf "%-30s %7s %12s %12s %8s %6s %12s %12s\n", "variant", "s", "pps", "pps", "share", "CPUs", "M drops", "per M drops"
  for (i = 1; i <= n; i++) {
    k = order[i]
    pps[k] = dropped[k] / secs[k]
    printf "%-30s %7.2f %12.0f %12.0f %7.1f%% %6.2f %12s %12s\n", label[k], load[k] / rounds[k],
      offered[k] / secs[k], pps[k], (offered[k] > 0 ? 100 * dropped[k] / offered[k] : 0),
      busy[k] / secs[k], per_m(busy[k], dropped[k]), per_m(flood[k], dropped[k])
  }
  printf "\n%-30s %12s %12s   target\n", "ratios of dropped pps", "XDP skb", "XDP native"
  split("iptables ipset nft", others, " ")
  target["iptables"] = 10; target["ipset"] = 1; target["nft"] = 1
  name["iptables"] = "XDP / iptables (rule per addr)"; name["ipset"] = "XDP / ipset"; name["nft"] = "XDP / nft set"
  for (j = 1; j <= 3; j++) {
    o = others[j]
    if (pps[o] <= 0) { printf "%-30s %12s %12s   >= %dx\n", name[o], "n/a", "n/a", target[o]; continue }
    s = pps["xdp_skb"] / pps[o]; v = pps["xdp_native"] / pps[o]
    printf "%-30s %11.2fx %11.2fx   >= %dx: skb %s, native %s\n", name[o], s, v, target[o],
      (s >= target[o] ? "ok" : "MISSED"), (v >= target[o] ? "ok" : "MISSED")
  }
}' "$RESULTS"
