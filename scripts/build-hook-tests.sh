#!/usr/bin/env bash
# Bundles the hook test harness (tests/react) with the built pkg/ into $OUT/hooks (React 19) and
# $OUT/hooks18 (React 18), development builds so StrictMode double-mounts as it does in dev.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/demo}
[ -f pkg/react.js ] || scripts/build-pkg.sh
bundle() {
  local dir=$1
  shift
  mkdir -p "$dir"
  node_modules/.bin/esbuild tests/react/harness.tsx --bundle --format=esm --jsx=automatic \
    --alias:resocket=./pkg --define:process.env.NODE_ENV='"development"' \
    --log-level=warning --log-override:duplicate-object-key=silent --outfile="$dir/harness.js" "$@"
  cp tests/react/index.html pkg/resocket_bg.wasm "$dir"/
  cp pkg/docs/resocket_bg.wasm "$dir"/docs_bg.wasm
}
bundle "$out/hooks"
bundle "$out/hooks18" --alias:react=react-18 --alias:react-dom=react-dom-18
