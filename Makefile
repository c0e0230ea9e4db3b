# Keeper — build, run and test.
#
#   make build             cargo build (debug)
#   make run               release build, then `keeper server` with the embedded defaults
#                          (client port 2181, data under ./data)
#   make test              everything: installs what the tests need (ZooKeeper's and Prometheus's
#                          Debian packages when missing, a Python venv in .venv), then
#                          cargo test, then the compatibility suites (tests/compat) against keeper,
#                          then the benchmark scripts' own tests (bench/tests)
#   make verify            cargo fmt --check + clippy -D warnings, then make test (changes nothing)
#   make fix               cargo fmt + clippy --fix
#   make compat-zookeeper  the compatibility suites against a real Apache ZooKeeper 3.8
#                          (not part of `test`; shows what correct behaviour is)
#   make observe           a local 3-server ensemble, Debian's Prometheus scraping it and a light
#                          load; prints where to look, Ctrl-C stops it (observability/README.md)
#   make bench-compare     Keeper vs Apache ZooKeeper 3.8 side by side (results in bench/out/)
#   make profile           perf + flame graph of a 3-server ensemble under load (bench/out/profile/)
#   make bench-threads     CPU per operation of every server thread, by name, under saturating
#                          write and read loads (bench/out/threads.json): the serial bottleneck
#   make fuzz              each cargo-fuzz target (fuzz/) for FUZZ_SECONDS (default 120); `make
#                          test` runs each for FUZZ_SMOKE_SECONDS (10). Findings go to
#                          fuzz/regressions/<target>/, which `cargo test` replays (tests/fuzz.rs)
#   make simulate          the seeded whole-ensemble ZAB simulation over SEEDS seeds (default
#                          10000; `cargo test` runs 300); SEED=n replays one seed with its steps
#
# Useful variables: PYTEST_ARGS="-k watches -x", KEEPER_BIN=..., CARGO=...

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CARGO       ?= cargo
PYTHON      ?= python3
VENV        ?= .venv
COMPAT_DIR  := tests/compat
REQUIREMENTS := $(COMPAT_DIR)/requirements.txt
VENV_STAMP  := $(VENV)/.requirements.stamp
PYTEST      := $(VENV)/bin/pytest
KEEPER_BIN  ?= $(CURDIR)/target/debug/keeper
ZKCLI       ?= /usr/share/zookeeper/bin/zkCli.sh
CLI_MT      ?= /usr/lib/zookeeper/bin/cli_mt
PYTEST_ARGS ?=
TEST_THREADS ?= 2
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export ZKCLI CLI_MT

.PHONY: build run test verify fix deps deb deb-tools upgrade-test zookeeper-deps prometheus-deps venv cargo-test compat compat-keeper \
        compat-zookeeper clean-venv bench-tools bench-compare profile bench-threads simulate observe \
        fuzz fuzz-tools fuzz-seeds fuzz-smoke

build:
	$(CARGO) build

run:
	$(CARGO) build --release
	target/release/keeper server

# cargo test and the compat suites both run even when the first fails (a CI log then shows
# every failure); the target fails if either did.
test: deps
	@status=0; \
	$(MAKE) --no-print-directory cargo-test || { status=$$?; echo "make test: cargo test FAILED"; }; \
	$(MAKE) --no-print-directory compat-keeper || { status=$$?; echo "make test: compat suites FAILED"; }; \
	$(MAKE) --no-print-directory bench-tools || { status=$$?; echo "make test: bench tool tests FAILED"; }; \
	$(MAKE) --no-print-directory fuzz-smoke || { status=$$?; echo "make test: fuzz smoke run FAILED"; }; \
	exit $$status

verify:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(MAKE) test

fix:
	$(CARGO) fmt --all
	$(CARGO) clippy --fix --allow-dirty --allow-staged --all-targets

# ---- what the tests need ---------------------------------------------------------------

deps: zookeeper-deps prometheus-deps venv

# Apache ZooKeeper 3.8 from Debian: the reference server, zkCli.sh (Java) and cli_mt (C).
zookeeper-deps:
	@if [ -x "$(ZKCLI)" ] && [ -x "$(CLI_MT)" ] && command -v java >/dev/null 2>&1; then \
	  echo "zookeeper, zookeeper-bin: present"; \
	else \
	  echo "installing Debian packages zookeeper zookeeper-bin"; \
	  $(SUDO) apt-get update; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeper zookeeper-bin; \
	fi

# Prometheus and promtool from Debian: the metrics tests scrape an ensemble with the real thing
# and check the shipped alert rules.
prometheus-deps:
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then \
	  echo "prometheus: present"; \
	else \
	  echo "installing Debian package prometheus"; \
	  $(SUDO) apt-get update; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; \
	fi

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	@if ! [ -x "$(VENV)/bin/python" ]; then \
	  $(PYTHON) -m venv "$(VENV)" || { \
	    $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && \
	    $(PYTHON) -m venv "$(VENV)"; }; \
	fi
	"$(VENV)/bin/python" -m pip install --quiet --disable-pip-version-check -r "$(REQUIREMENTS)"
	touch "$@"

clean-venv:
	rm -rf "$(VENV)"

# ---- tests -------------------------------------------------------------------------------

cargo-test:
	$(CARGO) test --no-fail-fast -- --test-threads $(TEST_THREADS)

# The compatibility suites (kazoo, raw wire, zkCli.sh / cli_mt compared live with ZooKeeper)
# against the keeper binary.
compat-keeper compat: deps
	$(CARGO) build
	COMPAT_TARGET=keeper KEEPER_BIN="$(KEEPER_BIN)" "$(PYTEST)" $(COMPAT_DIR) $(PYTEST_ARGS)

# The same suites against a real ZooKeeper 3.8: every test must pass there.
compat-zookeeper: deps
	COMPAT_TARGET=zookeeper "$(PYTEST)" $(COMPAT_DIR) $(PYTEST_ARGS)

# The benchmark's report and disk probe on made-up runs (no server, no timing asserted).
bench-tools: venv
	"$(PYTEST)" -p no:cacheprovider --timeout 60 bench/tests

# ---- packaging ---------------------------------------------------------------------------

CARGO_DEB_VERSION := 3.8.0

deb-tools:
	@if $(CARGO) deb --version 2>/dev/null | grep -q " $(CARGO_DEB_VERSION)"; then \
	  echo "cargo-deb $(CARGO_DEB_VERSION): present"; \
	else \
	  $(CARGO) install cargo-deb --version $(CARGO_DEB_VERSION) --locked; \
	fi

# A Debian package of the release build (target/debian/): /usr/bin/keeper, the hardened
# systemd unit (installed disabled), /etc/keeper/keeper.toml and the keeper user.
deb: deb-tools
	$(CARGO) deb --strip

# A rolling upgrade from an earlier build (KEEPER_PREVIOUS: a commit or tag; default the
# newest tag) to this one, under writes: tests/upgrade.rs. The earlier source is taken with
# git archive and built apart, in target/previous.
KEEPER_PREVIOUS ?= $(shell git describe --tags --abbrev=0 2>/dev/null)

upgrade-test:
	@if [ -z "$(KEEPER_PREVIOUS)" ]; then \
	  echo "make upgrade-test: name the release to upgrade from: KEEPER_PREVIOUS=<commit or tag>"; \
	  exit 2; \
	fi
	rm -rf target/previous/src && mkdir -p target/previous/src
	git archive "$(KEEPER_PREVIOUS)" | tar -x -C target/previous/src
	cd target/previous/src && GIT_CEILING_DIRECTORIES="$(CURDIR)/target/previous" \
	  $(CARGO) build --bin keeper --target-dir ../target
	KEEPER_PREVIOUS_BIN=target/previous/target/debug/keeper \
	  $(CARGO) test --test upgrade -- --nocapture

# ---- fuzzing (cargo-fuzz on stable Rust: no sanitizer) -----------------------------------

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS := client_frames peer_messages log_segment snapshot config tree_model
FUZZ_SECONDS ?= 120
FUZZ_SMOKE_SECONDS ?= 10

fuzz-tools:
	@if $(CARGO) fuzz --version 2>/dev/null | grep -q " $(CARGO_FUZZ_VERSION)$$"; then \
	  echo "cargo-fuzz $(CARGO_FUZZ_VERSION): present"; \
	else \
	  $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked; \
	fi

# The targets' seeds: the server's own encodings and the golden client frames.
fuzz-seeds:
	$(CARGO) test --test fuzz -- --ignored write_seeds

fuzz: fuzz-tools fuzz-seeds
	@status=0; for t in $(FUZZ_TARGETS); do bash fuzz/run.sh $$t $(FUZZ_SECONDS) || status=1; done; exit $$status

fuzz-smoke: fuzz-tools fuzz-seeds
	@status=0; for t in $(FUZZ_TARGETS); do bash fuzz/run.sh $$t $(FUZZ_SMOKE_SECONDS) || status=1; done; exit $$status

# ---- benchmarks (never part of `test`) ---------------------------------------------------

bench-compare:
	bash bench/compare.sh

observe: prometheus-deps
	bash observability/observe.sh

profile:
	bash bench/profile.sh

BENCH_THREADS_ARGS ?=
SEEDS ?= 10000
SEED  ?=
simulate:
	$(if $(SEED),SIM_SEED=$(SEED) SIM_TRACE=1,SIM_SEEDS=$(SEEDS)) $(CARGO) test --release --lib sim_many -- --nocapture

bench-threads:
	$(CARGO) build --release
	mkdir -p bench/out
	$(PYTHON) bench/threads.py --keeper target/release/keeper --json bench/out/threads.json $(BENCH_THREADS_ARGS)
