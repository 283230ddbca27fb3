#!/usr/bin/env bash
# Benchmarks that print figures: the package size (from the build) and receive throughput of the
# client against a raw WebSocket + JSON.parse in the same headless Chromium page.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-pkg.sh | tail -n 5
scripts/assemble-demo.sh
cp benches/bench.html out/demo/bench.html
addr=${RESOCKET_BENCH_SERVER:-127.0.0.1:9433}
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static out/demo" \
  scripts/with-server.sh "$addr" node benches/throughput.mjs
