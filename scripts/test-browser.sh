#!/usr/bin/env bash
# Runs the wasm-bindgen browser tests in headless Chromium against a real test server, twice:
# with cargo's wasm32 runner, and under `wasm-pack test --headless --chrome`.
set -euo pipefail
cd "$(dirname "$0")/.."
export RESOCKET_TEST_SERVER=${RESOCKET_TEST_SERVER:-127.0.0.1:9431}
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}
run_both() {
  cargo test --target wasm32-unknown-unknown -p resocket --test browser --test browser_rooms --test browser_docs
  # --mode no-install: use the wasm-bindgen-cli already installed at the locked version.
  wasm-pack test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install -- --test browser --test browser_rooms --test browser_docs
}
export -f run_both
exec scripts/with-server.sh "$RESOCKET_TEST_SERVER" bash -c run_both
