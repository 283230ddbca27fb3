#!/usr/bin/env bash
# Serves the demo: the test server on ADDR (default 127.0.0.1:8080) with the demo site.
set -euo pipefail
cd "$(dirname "$0")/.."
addr=${1:-127.0.0.1:8080}
scripts/assemble-demo.sh
cargo build --release -p resocket-server --quiet
echo "demo: open http://$addr/ (Ctrl-C stops the server)"
exec target/release/resocket-server --addr "$addr" --demo --insecure-trust-client-user \
  --config server/resocket.demo.toml --static out/demo
