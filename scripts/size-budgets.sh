#!/usr/bin/env bash
# The package's size budgets (ARCHITECTURE.md, "Budgets"), against the figures scripts/build-pkg.sh
# wrote to out/size/figures ("name bytes" lines, gzipped).
#   scripts/size-budgets.sh          prints each figure against its budget
#   scripts/size-budgets.sh --check  also fails when a figure is over its ceiling (`make test`)
# A figure's ceiling is its budget. Until a budget is met, the ceiling is the figure of the last
# accepted change instead, so the size can only go down; lower it when a change shrinks the figure,
# and drop it once the budget holds. Every budget holds now. The React figure is the difference of
# two gzipped app bundles that both hold the client, so it moves by a few bytes when only the
# client's JS changes.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

#        name         budget ceiling  what
budgets="client       30720  30720    client (connection, queue, requests, rooms, presence, notifications): WASM + JS, minified and gzipped
client_docs  40960  40960    client with documents (resocket/docs): WASM + JS, minified and gzipped
react_added  3072   3072     React layer added to an app bundle (resocket/react), minified and gzipped"

figures=out/size/figures
[ -f "$figures" ] || { echo "size-budgets: $figures missing (run scripts/build-pkg.sh)" >&2; exit 1; }
failed=0
while read -r name budget ceiling what; do
  figure=$(awk -v name="$name" '$1 == name { print $2 }' "$figures")
  [ -n "$figure" ] || { echo "size-budgets: no figure for $name in $figures" >&2; exit 1; }
  verdict="within budget"
  if [ "$figure" -gt "$budget" ]; then
    verdict="OVER BUDGET by $((figure - budget)) bytes (ceiling until it is met: $ceiling)"
    if [ "$mode" = --check ] && [ "$figure" -gt "$ceiling" ]; then
      verdict="$verdict: FAILED, the size grew past its ceiling"
      failed=1
    fi
  fi
  printf '%-100s %6d bytes (budget %d): %s\n' "$what" "$figure" "$budget" "$verdict"
done <<<"$budgets"
if [ "$failed" = 1 ] && grep -qx 'toolchain pkg-stable' "$figures"; then
  echo "size-budgets: this package was built on stable, about 1.7 KB bigger than on the pinned nightly (scripts/build-wasm.sh)" >&2
fi
exit "$failed"
