#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 300) with cargo-fuzz on the pinned nightly.
# Where that toolchain is missing, runs the same checks as a long proptest on stable instead.
# Prints executions and crashes per target; exits non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-300}
nightly=$(cat ../fuzz/NIGHTLY)
targets=(client_codec server_frames doc_ops server_session hello)

if rustup run "$nightly" rustc --version >/dev/null 2>&1 && command -v cargo-fuzz >/dev/null; then
  for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log=$(mktemp)
    # -rss_limit_mb bounds memory; the time limit makes it stop by itself.
    if ! cargo "+$nightly" fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
      tail -n 60 "$log"
      echo "fuzz: $target CRASHED (artifacts in fuzz/artifacts/$target)"
      exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target: $runs executions in ${seconds}s, 0 crashes"
    rm -f "$log"
  done
else
  # About 2,000 cases a second per check on this kind of machine.
  cases=$((seconds * 2000))
  echo "fuzz: $nightly or cargo-fuzz missing; running the checks as proptest ($cases cases each)"
  PROPTEST_CASES=$cases cargo test --release --test long_proptest
fi
