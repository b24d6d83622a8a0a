#!/usr/bin/env bash
# Installs everything Ironpost needs on Debian 12, idempotently: build tools for the BPF programs,
# the real services the tests talk to, and the attack-lab tools the demo uses.
set -euo pipefail

PACKAGES=(
  # build: BPF programs in C, sqlite is bundled by rusqlite
  clang llvm libbpf-dev bpftool make pkg-config
  # network lab and attack tools
  iproute2 iputils-ping nmap hping3 netsniff-ng netcat-openbsd openssh-server hydra sshpass
  # benchmarks (bench/): the netfilter baselines the XDP filter is compared with
  iptables ipset nftables
  # bench/exec-overhead.sh: auditd with an execve rule, the baseline the process monitor is compared with
  auditd
  # bench/sbom.sh: cargo-audit reads its advisory database as a git repository
  git
  # real components the tests and the demo run
  docker.io busybox-static postgresql redis-server nats-server prometheus prometheus-alertmanager rsyslog
  # clients and helpers
  bsdutils util-linux jq curl python3-venv procps openssl
  # packaging (scripts/package.sh): dpkg-shlibdeps for the .deb's dependencies, objcopy for the
  # split debug info, deb-systemd-helper for the maintainer scripts
  dpkg-dev binutils init-system-helpers
  # sbom-scanner tests: Go binaries built by Debian's Go toolchain (build info), real rpm
  # databases made by rpmbuild and rpm (rpmdb.sqlite), rpm's own version comparison
  golang-go rpm
  # the web console's browser test (crates/cli/tests/console_browser.rs): headless Chromium driven
  # over WebDriver by chromedriver
  chromium chromium-driver
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No packaged service may start during the install: nats-server, prometheus,
  # prometheus-alertmanager and redis-server would take the ports of the ones
  # scripts/services.sh runs with our configs (which also masks their units under systemd,
  # where installing enables them). invoke-rc.d and deb-systemd-invoke both ask policy-rc.d;
  # exit code 101 means "action forbidden". One that is already there is left as it is.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# The SBOM validators' venv (sbom-scanner tests); a no-op when its stamp matches.
bash "$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"

# The Kubernetes validators' venv (kubernetes-validate, helm); a no-op when its stamp matches.
bash "$(dirname "${BASH_SOURCE[0]}")/k8s-tools.sh"

# cargo-deb for scripts/package.sh deb (`make deb`, crates/cli/tests/deb.rs). Pinned: 3.8.0 builds
# on Rust 1.95 (its rust-version is 1.85).
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  echo "setup: installing cargo-deb $CARGO_DEB_VERSION"
  # Its own temporary target directory, not the workspace's CARGO_TARGET_DIR.
  env -u CARGO_TARGET_DIR cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi

# cargo-auditable for the sbom tests' real `cargo auditable build` (crates/cli/tests/sbom_image.rs:
# a Rust binary whose `.dep-v0` section lists its crates). Pinned: 0.7.7 builds on Rust 1.95; about
# 4 minutes of compiling on a cold machine, once (kept in ~/.cargo/bin).
CARGO_AUDITABLE_VERSION=0.7.7
if ! cargo install --list 2>/dev/null | grep -qxF "cargo-auditable v$CARGO_AUDITABLE_VERSION:"; then
  echo "setup: installing cargo-auditable $CARGO_AUDITABLE_VERSION"
  env -u CARGO_TARGET_DIR cargo install --quiet --locked cargo-auditable --version "$CARGO_AUDITABLE_VERSION"
fi

# cargo-fuzz for scripts/fuzz.sh (`make fuzz`, and the smoke pass of `make test`). Pinned: 0.13.2
# builds on Rust 1.95; the instrumented builds it runs need RUSTC_BOOTSTRAP=1 (scripts/fuzz.sh).
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  echo "setup: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  env -u CARGO_TARGET_DIR cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
