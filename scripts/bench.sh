#!/usr/bin/env bash
# Benchmarks that print figures: the package size (from the build) and receive throughput of the
# client against a raw WebSocket + JSON.parse in the same headless Chromium page; the server's
# fan-out on the memory and Redis engines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-pkg.sh | tail -n 5
scripts/assemble-demo.sh
cp benches/bench.html out/demo/bench.html
addr=${RESOCKET_BENCH_SERVER:-127.0.0.1:9433}
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static out/demo" \
  scripts/with-server.sh "$addr" node benches/throughput.mjs

# Fan-out: one publisher to FANOUT_CLIENTS (default 1000) clients in one room, one node on the
# memory engine against two nodes sharing a redis-server of its own (server/benches/fanout.rs).
# This process holds a socket per client, and so does a node: raise the soft fd limit if low.
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt $(( ${FANOUT_CLIENTS:-1000} + 256 )) ]; then
  ulimit -Sn "$(ulimit -Hn)" || true
fi
cargo bench -p resocket-server --bench fanout --profile native-bench
# Memory per idle connection: IDLE_CONNECTIONS (default 10000) welcomed sockets held open.
if [ "$soft" != unlimited ] && [ "$(ulimit -Sn)" -lt $(( ${IDLE_CONNECTIONS:-10000} + 256 )) ]; then
  ulimit -Sn "$(ulimit -Hn)" || true
fi
cargo bench -p resocket-server --bench idle_memory --profile native-bench
