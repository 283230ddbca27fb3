#!/usr/bin/env bash
# Runs the wasm-bindgen browser tests in headless Chromium against a real test server.
set -euo pipefail
cd "$(dirname "$0")/.."
export RESOCKET_TEST_SERVER=${RESOCKET_TEST_SERVER:-127.0.0.1:9431}
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}
exec scripts/with-server.sh "$RESOCKET_TEST_SERVER" \
  cargo test --target wasm32-unknown-unknown -p resocket --test browser
