#!/usr/bin/env bash
# SBOM scan benchmark: a generated 10,000-package Cargo.lock scanned against the full RustSec
# advisory-db by `ironpost-cli scan sbom` (warm: database already imported; cold: import included)
# and by `cargo audit --db DIR --no-fetch --stale --no-yanked` on the same file, each with its
# default report (table, text) and with JSON. Prints the times, the ratios and whether the
# vulnerability findings (advisory id, package, version) of the JSON reports are identical.
#
#   bench/sbom.sh [--packages N] [--rounds N] [--image-only]
#
# Then the image case: an image built FROM scratch with the local dockerd (a dpkg status of
# BENCH_IMAGE_OS_PACKAGES synthetic Debian 12 packages, os-release, and a Cargo.lock of
# BENCH_IMAGE_LANG_PACKAGES crates from the lockfile above) is `docker save`d to a tar and
# scanned with `ironpost-cli scan image --input TAR` against the database warm (RustSec plus one
# generated Debian:12 OSV record per 10 OS packages). Skipped, saying so, when dockerd does not
# answer (`scripts/services.sh start docker`).
#
# Environment: BENCH_PACKAGES (10000), BENCH_ROUNDS (11, the median is shown), RUSTSEC_NATIVE
# (testdata/rustsec/native), CARGO, CARGO_TARGET_DIR, CARGO_AUDIT_ROOT
# (/var/tmp/ironpost-cargo-audit: cargo-audit 0.22 is installed there from crates.io if absent).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PACKAGES=${BENCH_PACKAGES:-10000}
ROUNDS=${BENCH_ROUNDS:-11}
NATIVE=${RUSTSEC_NATIVE:-$ROOT/testdata/rustsec/native}
AUDIT_ROOT=${CARGO_AUDIT_ROOT:-/var/tmp/ironpost-cargo-audit}

while [ $# -gt 0 ]; do
  case $1 in
    --packages) PACKAGES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --image-only) IMAGE_ONLY=1; shift ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

[ -d "$NATIVE/crates" ] || { echo "bench: $NATIVE/crates is missing" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench: jq is missing (scripts/setup.sh installs it)" >&2; exit 1; }
command -v git >/dev/null || { echo "bench: git is missing" >&2; exit 1; }

echo "== building ironpost-cli (release)"
"$CARGO" build --release --locked -p ironpost-cli >&2
CLI=$TARGET_DIR/release/ironpost-cli

AUDIT=$AUDIT_ROOT/bin/cargo-audit
if [ -z "${IMAGE_ONLY:-}" ] && [ ! -x "$AUDIT" ]; then
  echo "== installing cargo-audit 0.22 into $AUDIT_ROOT"
  "$CARGO" install cargo-audit --version '~0.22' --locked --root "$AUDIT_ROOT" >&2
fi
AUDIT_VERSION=$("$AUDIT" audit --version 2>/dev/null || "$AUDIT" --version 2>/dev/null || echo none)

work=$(mktemp -d /var/tmp/ironpost-bench-sbom.XXXXXX)
trap 'rm -rf "$work"' EXIT

# cargo audit opens --db as a git repository: one commit of the same advisories.
mkdir -p "$work/advisory-db"
cp -r "$NATIVE/crates" "$work/advisory-db/crates"
git -C "$work/advisory-db" init -q
git -C "$work/advisory-db" -c user.name=bench -c user.email=bench@localhost add -A
git -C "$work/advisory-db" -c user.name=bench -c user.email=bench@localhost commit -q -m "rustsec-native snapshot"

# The lockfile: every crate the advisories name (at versions around their ranges: the first
# `introduced`, each `patched` bound and just below it), then synthetic names up to N. Fully
# deterministic: names and versions come from the data in sorted order.
mkdir -p "$work/proj"
python3 - "$NATIVE/crates" "$PACKAGES" "$work/proj/Cargo.lock" <<'PY'
import os, re, sys
root, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ver = re.compile(r'(\d+)\.(\d+)\.(\d+)')
pkgs = []
for name in sorted(os.listdir(root)):
    versions = set()
    for f in sorted(os.listdir(os.path.join(root, name))):
        text = open(os.path.join(root, name, f), encoding="utf-8").read()
        m = re.search(r'^patched\s*=\s*\[(.*?)\]', text, re.S | re.M)
        for a, b, c in ver.findall(m.group(1) if m else ""):
            a, b, c = int(a), int(b), int(c)
            versions.add(f"{a}.{b}.{c}")
            if c > 0:
                versions.add(f"{a}.{b}.{c - 1}")
            elif b > 0:
                versions.add(f"{a}.{b - 1}.0")
    if not versions:
        versions.add("0.1.0")
    for v in sorted(versions)[:3]:
        pkgs.append((name, v))
pkgs = pkgs[: n // 4]
i = 0
while len(pkgs) < n:
    pkgs.append((f"ironpost-bench-crate-{i:05}", f"{i % 5}.{i % 13}.{i % 7}"))
    i += 1
src = "registry+https://github.com/rust-lang/crates.io-index"
with open(out, "w") as fh:
    fh.write("version = 3\n")
    for name, v in sorted(pkgs):
        fh.write(f'\n[[package]]\nname = "{name}"\nversion = "{v}"\nsource = "{src}"\n')
print(f"lockfile: {len(pkgs)} packages, {sum(1 for p in pkgs if not p[0].startswith('ironpost-bench'))} named by advisories")
PY

"$CLI" db import "$NATIVE" --db "$work/db" >/dev/null
if [ -z "${IMAGE_ONLY:-}" ]; then
echo "== timing: ironpost warm (database imported once beforehand), cold (import + scan), cargo audit"

# Wall-clock time of each run, from posix_spawn to waitpid in python3 (perf_counter): a `date`
# forked before and after would add milliseconds of its own to a 10 ms scan. The rounds of
# the three measurements are interleaved, so that a noisy stretch of the machine hits all of them.
python3 - "$ROUNDS" "$work" "$CLI" "$NATIVE" "$AUDIT" >"$work/times" <<'PY'
import os, shutil, statistics, sys, time
rounds, work, cli, native, audit = int(sys.argv[1]), *sys.argv[2:]
def run(args, out):
    # posix_spawn and waitpid: the lightest way to start and reap a child from Python
    # (subprocess adds close_fds scans and an error pipe, a fixed cost on both sides).
    with open(out, "wb") as fh, open(os.path.join(work, "stderr"), "ab") as err:
        actions = [(os.POSIX_SPAWN_DUP2, fh.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(args[0], args, os.environ, file_actions=actions)
        os.waitpid(pid, 0)
        return (time.perf_counter() - t0) * 1e3
scan = lambda db, *fmt: [cli, "scan", "sbom", "--db", db, "--dir", os.path.join(work, "proj"),
                         "--min-severity", "info", *fmt]
audit_cmd = lambda *fmt: [audit, "audit", "--db", os.path.join(work, "advisory-db"), "--no-fetch",
                          "--stale", "--no-yanked", *fmt, "--file",
                          os.path.join(work, "proj", "Cargo.lock")]
times = {k: [] for k in ("warm", "warm_json", "cold", "audit", "audit_json")}
for _ in range(rounds):
    db = os.path.join(work, "db")
    times["warm"].append(run(scan(db), os.path.join(work, "ironpost.txt")))
    times["warm_json"].append(run(scan(db, "--format", "json"), os.path.join(work, "ironpost.json")))
    shutil.rmtree(os.path.join(work, "db-cold"), ignore_errors=True)
    times["cold"].append(run([cli, "db", "import", native, "--db", os.path.join(work, "db-cold")], os.devnull)
                         + run(scan(os.path.join(work, "db-cold")), os.devnull))
    times["audit"].append(run(audit_cmd(), os.path.join(work, "audit.txt")))
    times["audit_json"].append(run(audit_cmd("--json"), os.path.join(work, "audit.json")))
for k in ("warm", "warm_json", "cold", "audit", "audit_json"):
    print("%.1f" % statistics.median(times[k]))
PY
{ read -r warm; read -r warm_json; read -r cold; read -r audit; read -r audit_json; } <"$work/times"

if ! jq -e .vulnerabilities "$work/audit.json" >/dev/null 2>&1; then
  echo "bench: cargo audit produced no JSON report:" >&2
  cat "$work/stderr" >&2
  exit 1
fi

jq -r '.findings[] | select(.kind == "vulnerability") | "\(.advisory_id) \(.package) \(.version)"' \
  "$work/ironpost.json" | sort -u >"$work/ours.txt"
jq -r '.vulnerabilities.list[] | "\(.advisory.id) \(.package.name) \(.package.version)"' \
  "$work/audit.json" | sort -u >"$work/theirs.txt"
if cmp -s "$work/ours.txt" "$work/theirs.txt"; then identical=yes; else identical=no; fi

ratio=$(awk -v a="$audit" -v w="$warm" 'BEGIN {printf "%.1f", a/w}')
ratio_json=$(awk -v a="$audit_json" -v w="$warm_json" 'BEGIN {printf "%.1f", a/w}')
ratio_cold=$(awk -v a="$audit" -v c="$cold" 'BEGIN {printf "%.1f", a/c}')
verdict() { if awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN {exit !(op == "le" ? x <= t : x >= t)}'; then echo ok; else echo MISSED; fi; }

echo
echo "SBOM scan, $(grep -c '^\[\[package\]\]' "$work/proj/Cargo.lock") packages, $(find "$NATIVE/crates" -name '*.md' | wc -l) advisories, median of $ROUNDS"
echo "  $(date -u +%Y-%m-%dT%H:%MZ) · $(nproc) cores · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "  Default output of both (ironpost's table, cargo audit's text report):"
printf '  ironpost warm (scan)           %8.1f ms   target <= 100 ms: %s\n' "$warm" "$(verdict "$warm" 100 le)"
printf '  ironpost cold (import + scan)  %8.1f ms\n' "$cold"
printf '  %-30s %8.1f ms\n' "$AUDIT_VERSION" "$audit"
printf '  ratio cargo-audit / warm       %8s x    target >= 10x: %s\n' "$ratio" "$(verdict "$ratio" 10 ge)"
printf '  ratio cargo-audit / cold       %8s x\n' "$ratio_cold"
echo "  JSON output of both (the reports compared below):"
printf '  ironpost warm --format json    %8.1f ms\n' "$warm_json"
printf '  %-30s %8.1f ms\n' "cargo audit --json" "$audit_json"
printf '  ratio cargo-audit / warm       %8s x    (>= 10x: %s)\n' "$ratio_json" "$(verdict "$ratio_json" 10 ge)"
printf '  vulnerability findings         %8s      (ironpost %d, cargo-audit %d) identical: %s\n' "" \
  "$(wc -l <"$work/ours.txt")" "$(wc -l <"$work/theirs.txt")" "$identical"
if [ "$identical" = no ]; then
  echo "  differences (< ironpost, > cargo-audit):"
  diff "$work/ours.txt" "$work/theirs.txt" | grep '^[<>]' | head -20 | sed 's/^/    /'
fi
fi

# --- The image case -------------------------------------------------------------------------
OS_PKGS=${BENCH_IMAGE_OS_PACKAGES:-2000}
LANG_PKGS=${BENCH_IMAGE_LANG_PACKAGES:-1000}
if ! docker info >/dev/null 2>&1; then
  echo
  echo "image case skipped: dockerd does not answer (bash scripts/services.sh start docker)"
  exit 0
fi
img=ironpost-bench-sbom-image-$$
trap 'rm -rf "$work"; docker rmi -f "$img" >/dev/null 2>&1 || true' EXIT
mkdir -p "$work/img" "$work/osv-deb"
python3 - "$OS_PKGS" "$LANG_PKGS" "$work/proj/Cargo.lock" "$work/img" "$work/osv-deb" <<'PY'
import json, os, sys
n_os, n_lang, lock, out, osv = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
with open(os.path.join(out, "status"), "w") as fh:
    for i in range(n_os):
        fh.write(f"Package: ironpost-bench-deb-{i:05}\nStatus: install ok installed\nPriority: optional\n"
                 f"Section: misc\nInstalled-Size: 10\nMaintainer: bench <bench@localhost>\n"
                 f"Architecture: amd64\nSource: ironpost-bench-src-{i:05}\nVersion: 1:{i % 7}.{i % 11}-{i % 3 + 1}\n"
                 f"Description: bench package\n\n")
for i in range(0, n_os, 10):
    rec = {"schema_version": "1.6.0", "id": f"BENCH-DEB-{i:05}", "modified": "2026-12-01T00:00:00Z",
           "affected": [{"package": {"ecosystem": "Debian:12", "name": f"ironpost-bench-src-{i:05}"},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                     {"fixed": f"1:{i % 7}.{i % 11}-{i % 3 + 1}+b1"}]}]}]}
    json.dump(rec, open(os.path.join(osv, f"BENCH-DEB-{i:05}.json"), "w"))
text = open(lock).read().split("\n[[package]]\n")
with open(os.path.join(out, "Cargo.lock"), "w") as fh:
    fh.write(text[0])
    for p in text[1 : n_lang + 1]:
        fh.write("\n[[package]]\n" + p.rstrip("\n") + "\n")
open(os.path.join(out, "os-release"), "w").write('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
open(os.path.join(out, "Dockerfile"), "w").write(
    "FROM scratch\nCOPY os-release /etc/os-release\nCOPY status /var/lib/dpkg/status\nCOPY Cargo.lock /srv/app/Cargo.lock\n")
PY
DOCKER_BUILDKIT=0 docker build -q -t "$img" "$work/img" >/dev/null
docker save -o "$work/image.tar" "$img"
"$CLI" db import "$work/osv-deb" --db "$work/db" >/dev/null
python3 - "$ROUNDS" "$work" "$CLI" >"$work/img-times" <<'PY'
import os, statistics, sys, time
rounds, work, cli = int(sys.argv[1]), sys.argv[2], sys.argv[3]
args = [cli, "scan", "image", "--db", os.path.join(work, "db"), "--input",
        os.path.join(work, "image.tar"), "--min-severity", "info", "--format", "json"]
t = []
for _ in range(rounds):
    with open(os.path.join(work, "image.json"), "wb") as fh, open(os.devnull, "wb") as err:
        acts = [(os.POSIX_SPAWN_DUP2, fh.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(cli, args, os.environ, file_actions=acts)
        os.waitpid(pid, 0)
        t.append((time.perf_counter() - t0) * 1e3)
print("%.1f" % statistics.median(t))
PY
read -r img_ms <"$work/img-times"
echo
echo "Image scan, docker save tar of $(du -h "$work/image.tar" | cut -f1), median of $ROUNDS"
printf '  packages                       %8s      (%d lockfiles/databases)\n' \
  "$(jq .packages "$work/image.json")" "$(jq '.lockfiles | length' "$work/image.json")"
printf '  findings                       %8s      (OS %d, crates %d)\n' "$(jq '.findings | length' "$work/image.json")" \
  "$(jq '[.findings[] | select(.ecosystem | startswith("Debian"))] | length' "$work/image.json")" \
  "$(jq '[.findings[] | select(.ecosystem == "crates.io")] | length' "$work/image.json")"
printf '  ironpost scan image --input    %8.1f ms (warm database, JSON)\n' "$img_ms"
