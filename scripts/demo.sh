#!/usr/bin/env bash
# Serves the demo: the test server on ADDR (default 127.0.0.1:8080) with the demo site, and the
# demo's app backend job.
set -euo pipefail
cd "$(dirname "$0")/.."
addr=${1:-127.0.0.1:8080}
scripts/assemble-demo.sh
# The server (authenticated with dev tokens, test controls for the drop buttons) and the
# simulated app backend that fills orders: see scripts/with-demo.sh.
OUT=out/demo exec scripts/with-demo.sh "$addr"
