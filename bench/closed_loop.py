#!/usr/bin/env python3
"""Closed-loop latency: a failed-login line written -> the attacker's packets dropped in XDP.

Run by bench/closed-loop.sh, which creates the namespaces and starts the daemon. Modes:

  closed_loop.py recv OUT.json             (in the victim namespace) UDP :9999; on SIGTERM writes
                                           {source: last arrival, CLOCK_MONOTONIC ns}
  closed_loop.py send LOG N FIRST OUT.json (in the attacker namespace) for each of N sources
                                           FIRST, FIRST+1, ...: send a UDP datagram every 200 us,
                                           append one failed-login line to LOG after 20 of them
                                           (time recorded), keep sending 150 ms (BENCH_AFTER_MS). LOG `journal`:
                                           send the line to journald's syslog socket instead
                                           (/run/systemd/journal/dev-log) as `sshd[PID]`
  closed_loop.py report RECV.json SEND.json

CLOCK_MONOTONIC is shared by all network namespaces, so arrival and write times compare.
The block took effect between the last datagram that arrived and the next one (200 us later).
"""

import ipaddress
import json
import os
import signal
import socket
import sys
import time

PORT = 9999
GAP_NS = 200_000
BEFORE = 20
# How long each source keeps sending after its line (BENCH_AFTER_MS, default 150).
AFTER_NS = int(os.environ.get("BENCH_AFTER_MS", "150")) * 1_000_000


def recv(out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", PORT))
    last = {}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s.settimeout(0.2)
    while not stop:
        try:
            _, (src, _) = s.recvfrom(64)
        except (socket.timeout, InterruptedError):
            continue
        last[src] = time.monotonic_ns()
    with open(out, "w") as f:
        json.dump(last, f)


class JournalSink:
    """Lines to journald's syslog socket, one datagram each, as sshd's own syslog(3) sends them."""

    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.connect("/run/systemd/journal/dev-log")

    def write(self, line):
        # `MMM DD HH:MM:SS bench sshd[PID]: MSG` -> `<38>sshd[PID]: MSG` (auth.info)
        self.s.send(b"<38>" + line.split(" bench ", 1)[1].rstrip("\n").encode())

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.s.close()
        return False


def send(log, n, first, out):
    first = ipaddress.ip_address(first)
    dst = os.environ.get("BENCH_VICTIM", "198.19.0.1")
    written = {}
    sink = JournalSink() if log == "journal" else open(log, "a", buffering=1)
    with sink as f:
        for i in range(n):
            src = str(first + i)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            sent = 0
            t_write = None
            nxt = time.monotonic_ns()
            while True:
                now = time.monotonic_ns()
                if now < nxt:
                    time.sleep((nxt - now) / 1e9)
                    continue
                nxt += GAP_NS
                try:
                    s.sendto(b"x", (dst, PORT))
                except OSError:
                    pass
                sent += 1
                if sent == BEFORE:
                    line = (
                        time.strftime("%b %d %H:%M:%S")
                        + f" bench sshd[{1000 + i}]: Failed password for root from {src} port 40000 ssh2\n"
                    )
                    f.write(line)
                    t_write = time.monotonic_ns()
                    written[src] = t_write
                if t_write is not None and now - t_write > AFTER_NS:
                    break
            s.close()
    with open(out, "w") as o:
        json.dump(written, o)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def report(recv_path, send_path):
    last = json.load(open(recv_path))
    written = json.load(open(send_path))
    lat, never = [], []
    for src, t in written.items():
        if src not in last:
            never.append(src)
            continue
        d = last[src] - t
        # Still arriving at the end of the window: not blocked within it.
        if d >= AFTER_NS - 5 * GAP_NS:
            never.append(src)
            continue
        lat.append(max(d, 0) / 1e6)
    print(f"  failed-login line written -> XDP drops the source, {len(written)} attackers (distinct IPs)")
    if lat:
        p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
        target = os.environ.get("BENCH_TARGET_MS", "10")
        print(f"  p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {max(lat):.2f} ms  (resolution 0.2 ms)")
        if target:
            verdict = "met" if p99 <= float(target) else "MISSED"
            print(f"  target p99 <= {target} ms: {verdict}")
    print(f"  not blocked within {AFTER_NS // 1_000_000} ms: {len(never)}")
    return 0 if lat else 1


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "recv":
        recv(sys.argv[2])
    elif mode == "send":
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "report":
        sys.exit(report(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
