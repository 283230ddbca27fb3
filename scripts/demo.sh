#!/usr/bin/env bash
# Serves the demo: the test server on ADDR (default 127.0.0.1:8080) with the demo site.
set -euo pipefail
cd "$(dirname "$0")/.."
addr=${1:-127.0.0.1:8080}
scripts/assemble-demo.sh
cargo build --release -p resocket-server --quiet
echo "demo: open http://$addr/ (Ctrl-C stops the server)"
# --test-controls: the pages' drop buttons; the generated control secret is printed in the log
# and handed to the demo's own pages by /demo/control-secret (see docs/AUTH.md).
exec target/release/resocket-server --addr "$addr" --demo --insecure-trust-client-user --test-controls --static out/demo
