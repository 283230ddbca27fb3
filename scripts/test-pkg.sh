#!/usr/bin/env bash
# Package tests: the built pkg/ loaded by a plain <script type=module> page (the demo) in headless
# Chromium against the real server, plus a bundler resolution check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/assemble-demo.sh
# Bundlers must resolve the package's exports and the .wasm URL: esbuild, and Vite building a
# small app that imports "resocket" (served under /vite/ and loaded by the tests below).
node_modules/.bin/esbuild pkg/index.js --bundle --format=esm --log-level=warning --outfile=out/bundle-check.js
node_modules/.bin/vite build --config tests/pkg/vite-app/vite.config.js
addr=${RESOCKET_PKG_TEST_SERVER:-127.0.0.1:9432}
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static out/demo" \
  scripts/with-server.sh "$addr" node --test --test-concurrency=1 tests/pkg/
