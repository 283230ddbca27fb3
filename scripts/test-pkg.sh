#!/usr/bin/env bash
# Package tests in headless Chromium against the real server: the demo site and example apps
# (tests/pkg, tests/examples), the React hooks (tests/react) and bundler resolution.
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-out/demo}
scripts/assemble-demo.sh
scripts/build-hook-tests.sh
# Strict type check of the hook harness against the package (build-examples.sh checks the apps).
node_modules/.bin/tsc -p tests/react/tsconfig.json
# Bundlers must resolve the package's exports and the .wasm URL: esbuild, and Vite building a
# small app that imports "resocket" (served under /vite/ and loaded by the tests below).
node_modules/.bin/esbuild pkg/index.js --bundle --format=esm --log-level=warning --outfile=out/bundle-check.js
node_modules/.bin/vite build --config tests/pkg/vite-app/vite.config.js --outDir "$PWD/$OUT/vite"
addr=${RESOCKET_PKG_TEST_SERVER:-127.0.0.1:9432}
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static $OUT" \
  scripts/with-server.sh "$addr" node --test --test-concurrency=1 tests/pkg/ tests/react/ tests/examples/
# The server API helper against the real server (its own server, with an API key).
scripts/test-server-api.sh
