#!/usr/bin/env bash
# Benchmarks that print figures: the package size (from the build) and receive throughput of the
# client against a raw WebSocket + JSON.parse in the same headless Chromium page; the hot path
# (main-thread CPU per room message, request round trips, memory after 10,000 reconnects); the server's
# fan-out on the memory and Redis engines against a bare Node `ws` server, its memory per idle
# connection against the same, and an honest client's ping latency while attackers flood it.
# Ends with one table of the headline figures. Asserts nothing about timing.
set -euo pipefail
cd "$(dirname "$0")/.."
summary=$(mktemp -t resocket-bench.XXXXXX.tsv)
trap 'rm -f "$summary"' EXIT
export BENCH_SUMMARY=$summary
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$summary"; }

out=$(mktemp -t resocket-bench-out.XXXXXX)
trap 'rm -f "$summary" "$out"' EXIT
scripts/build-pkg.sh | tail -n 5 | tee "$out"
size=$(cat "$out")
row "client size, minified + gzipped" \
  "$(sed -n 's/^client size.*: \([0-9]*\) bytes.*/\1 bytes/p' <<<"$size")" "budget 30720 bytes"
row "client with documents (resocket/docs)" \
  "$(sed -n 's/^client with documents.*: \([0-9]*\) bytes.*/\1 bytes/p' <<<"$size")" "budget 40960 bytes"
row "React layer added to an app bundle" \
  "$(sed -n 's/^React layer.*adds \([0-9]*\) bytes.*/\1 bytes/p' <<<"$size")" "budget 3072 bytes"
scripts/assemble-demo.sh
cp benches/bench.html out/demo/bench.html
addr=${RESOCKET_BENCH_SERVER:-127.0.0.1:9433}
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static out/demo" \
  scripts/with-server.sh "$addr" node benches/throughput.mjs | tee "$out"
throughput=$(cat "$out")
row "receive time, resocket / raw WebSocket" \
  "$(sed -n 's/.*time ratio: *\([0-9.]*\) median.*/\1/p' <<<"$throughput")" "budget <= 1.15"
# The hot path: main-thread CPU per room message, request round trips, memory after reconnects.
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static out/demo" \
  scripts/with-server.sh "$addr" node benches/hotpath.mjs | tee "$out"
hotpath=$(cat "$out")
row "room message main-thread CPU, resocket / raw" \
  "$(sed -n 's/.*CPU ratio: *\([0-9.]*\) median.*/\1/p' <<<"$hotpath")" "budget <= 1.05"
row "the same, raw / raw (this run's noise floor)" \
  "$(sed -n 's/.*noise floor of this run: *\([0-9.]*\) median.*/\1/p' <<<"$hotpath")" "about 1 (noise only)"
row "request round trip, resocket / raw" \
  "$(sed -n 's/.*round-trip ratio: *\([0-9.]*\) median.*/\1/p' <<<"$hotpath")" "goal <= 1.1"
row "memory growth over reconnects (JS heap, WASM)" \
  "$(sed -n 's/.*growth from \([0-9]*\) to \([0-9]*\) reconnects: JS heap \(-\{0,1\}[0-9]*\) KiB, WASM memory \(-\{0,1\}[0-9]*\) KiB.*/\3 KiB, \4 KiB (\1 to \2)/p' <<<"$hotpath")" "goal: none after GC"

# The server benches hold a socket per client in this process, and the servers one each: raise
# the soft fd limit if it is below what IDLE_CONNECTIONS (default 10000) needs.
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt $(( ${IDLE_CONNECTIONS:-10000} + 256 )) ]; then
  ulimit -Sn "$(ulimit -Hn)" || true
fi
# Fan-out: one publisher to FANOUT_CLIENTS (default 1000) clients in one room, one node on the
# memory engine, two nodes sharing a redis-server of its own, and a Node `ws` broadcast server.
cargo bench -p resocket-server --bench fanout --profile native-bench
# Memory per idle connection: IDLE_CONNECTIONS welcomed sockets held open, then the same to Node `ws`.
cargo bench -p resocket-server --bench idle_memory --profile native-bench
# An honest client's pings while attackers flood the server with its default limits.
cargo bench -p resocket-server --bench flood --profile native-bench

echo
echo "== make bench: figures (details above) =="
awk -F'\t' '
  { for (i = 1; i <= 3; i++) { cell[NR, i] = $i; if (length($i) > width[i]) width[i] = length($i) } }
  END { for (r = 1; r <= NR; r++) printf "%-*s  %*s  %s\n", width[1], cell[r, 1], width[2], cell[r, 2], cell[r, 3] }
' "$summary"
