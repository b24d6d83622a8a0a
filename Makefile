# Ironpost: two entry points. `make demo` runs the main job; `make test` runs every test.
# Both install what they need (Debian packages, services) through scripts/.

SHELL := /bin/bash
CARGO ?= cargo
# .ci/run points CARGO_TARGET_DIR outside the clone so CI reuses earlier builds.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: demo test setup services build build-release lint fuzz fuzz-smoke bench-xdp bench-sbom train demo-ids bench-ids bench-loop bench-container

setup:
	bash scripts/setup.sh

services: setup
	bash scripts/services.sh start

build:
	$(CARGO) build --workspace --bins --locked

build-release:
	$(CARGO) build --release --locked -p ironpost-daemon -p ironpost-cli

## The main job: the daemon on embedded defaults, its health, metrics and a stored alert.
demo: setup build-release
	DEMO_BIN_DIR=$(TARGET_DIR)/release bash scripts/demo.sh

## Every test, against the real services; then a short pass of every fuzz target
## (FUZZ_SMOKE_RUNS inputs each with seed 1, default 20000, at most FUZZ_SMOKE_SECONDS, default 10;
## FUZZ_SMOKE_SECONDS=0 skips it).
test: services build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --locked --no-fail-fast; \
	else \
		$(CARGO) test --workspace --locked --no-fail-fast; \
	fi
	bash scripts/fuzz.sh smoke

## Every fuzz target (fuzz/, docs/fuzzing.md) for FUZZ_SECONDS each (default 60); FUZZ_TARGETS
## picks some. Found inputs land in /var/tmp/ironpost-fuzz/artifacts/TARGET/ (FUZZ_WORK).
fuzz: setup
	bash scripts/fuzz.sh run $(or $(FUZZ_SECONDS),60)

## The smoke pass alone.
fuzz-smoke: setup
	bash scripts/fuzz.sh smoke

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Benchmarks of the XDP filter (root): BPF_PROG_TEST_RUN ns per packet and the drop rate on a
## veth pair against iptables, ipset and nft. BENCH_DURATION=SECS per drop variant (default 5).
bench-xdp: setup
	bash bench/run.sh xdp

## SBOM scan of a generated 10,000-package Cargo.lock against the RustSec advisory-db, warm and
## cold, side by side with cargo-audit 0.22 (installed from crates.io on first run).
bench-sbom: setup
	bash bench/sbom.sh

## Anomaly IDS models: NSL-KDD -> XGBoost -> models/*.onnx, metrics and the Rust parity fixture.
## `make train TRAIN_ARGS=--check` retrains in memory and compares with the committed files instead.
train:
	bash training/setup.sh
	cd training && "$${IRONPOST_TRAIN_VENV:-/var/tmp/ironpost-train-venv}/bin/python" train.py $(TRAIN_ARGS)
	cd training && "$${IRONPOST_TRAIN_VENV:-/var/tmp/ironpost-train-venv}/bin/python" export_fixture.py $(TRAIN_ARGS)

## Anomaly IDS (seed 004): simulated scan -> NATS -> daemon -> Alertmanager -> notifier, then benign traffic.
demo-ids: setup build-release
	DEMO_BIN_DIR=$(TARGET_DIR)/release bash scripts/demo-ids.sh

## Scan start -> Alertmanager alert latency over BENCH_RUNS runs (default 5): p50 and max.
bench-ids: setup build-release
	DEMO_BIN_DIR=$(TARGET_DIR)/release bash bench/ids.sh

## Closed loop (root): failed-login line -> XDP drop over 200 attackers; port scan -> alert.
bench-loop: setup
	bash bench/closed-loop.sh

## Container guard: alert -> container paused over 100 alerts, against the real dockerd.
bench-container: setup
	bash bench/container.sh

.PHONY: deb image

## The `ironpost` .deb (+ ironpost-dbgsym .ddeb) from a release build, in $(TARGET_DIR)/debian.
deb: setup build-release
	bash scripts/package.sh deb --profile release

## The FROM-scratch container image ironpost:local (deploy/container/Containerfile), local dockerd.
image: setup build-release
	bash scripts/services.sh start docker
	bash scripts/package.sh image --profile release --tag ironpost:local
