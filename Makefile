# The two commands: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
DEMO_ADDR ?= 127.0.0.1:8080

.PHONY: all deps pkg size size-budgets demo test lint test-native test-pkg test-fuzz fuzz chaos bench clean

all: pkg

deps:
	scripts/install-deps.sh

## pkg: build the npm package into pkg/ and print its gzipped size
pkg: deps
	scripts/build-pkg.sh

## size: where the client's WASM bytes go, by module path and by function (twiggy)
size: pkg
	scripts/size-breakdown.sh

## demo: build everything, start the test server and serve the demo on $(DEMO_ADDR)
demo: pkg
	scripts/demo.sh $(DEMO_ADDR)

## test: every test: lint, native core and server tests, fuzz smoke, the package in Chromium and Node (browser, React, examples, auth), a short chaos run
test: deps lint test-native test-fuzz test-pkg size-budgets
	@echo "all test suites passed"

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p resocket --target wasm32-unknown-unknown --all-targets -- -D warnings
	cargo clippy -p resocket --target wasm32-unknown-unknown --no-default-features -- -D warnings
	cargo clippy -p resocket --target wasm32-unknown-unknown --no-default-features --features docs -- -D warnings

test-native:
	cargo test --workspace
	# The core without the `docs` feature, as the package's resocket module has it.
	cargo test -p resocket --no-default-features --lib
	scripts/test-redis-engine.sh

## test-fuzz: a short run of every fuzz target (FUZZ_SMOKE_SECONDS each)
test-fuzz:
	scripts/fuzz.sh $${FUZZ_SMOKE_SECONDS:-15}

## fuzz: every fuzz target for FUZZ_SECONDS each (default 300); see fuzz/README.md
fuzz: deps
	scripts/fuzz.sh $${FUZZ_SECONDS:-300}

test-pkg: pkg
	scripts/test-pkg.sh

## size-budgets: fail when the package grew past its size budgets (or, until one is met, past its ceiling)
size-budgets: pkg
	scripts/size-budgets.sh --check

## chaos: browser clients under traffic while the server drops, dies and restarts, CHAOS_SECONDS (default 60), on the memory engine and then on two Redis-engine nodes; prints the tables
chaos: pkg
	scripts/chaos.sh
	CHAOS_ENGINE=redis scripts/chaos.sh

## bench: size, receive throughput, server fan-out and idle memory (against Node `ws`), honest-client latency under floods; ends with a table of figures (asserts nothing about timing)
bench: pkg
	scripts/bench.sh

clean:
	cargo clean
	rm -rf pkg out
