#!/usr/bin/env bash
# Builds the npm package into pkg/: the WASM client, its wasm-bindgen glue, the TypeScript
# wrapper and the hand-written package files, for two entries: `resocket` and `resocket/docs` (the
# same with shared documents). Prints the gzipped size of what a browser loads for each.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf pkg

# One module of the client: the crate built with `$2` (cargo flags), through wasm-bindgen into
# `$1`, then optimised. The package holds two: with documents (the `docs` feature) in pkg/docs/
# for `resocket/docs`, and without in pkg/ for `resocket`. scripts/build-wasm.sh picks the
# toolchain (the pinned nightly's build-std, or stable) and prints where the module is.
#
# Debian's wasm-opt is too old for current wasm-bindgen output; the npm binaryen one is not.
# Tuned for what a browser downloads, the gzipped module: -Os rather than -Oz (281 B smaller
# gzipped), and functions with one caller inlined only when small (-ocimfs=20): inlining them
# all into the large event-handling functions left 1.7 KB more after gzip, for 3% less raw.
wasm_module() {
  # shellcheck disable=SC2086 # $2 is a list of flags
  wasm=$(scripts/build-wasm.sh $2)
  wasm-bindgen --target web --out-dir "$1" --out-name resocket "$wasm"
  if [ -x node_modules/.bin/wasm-opt ]; then
    node_modules/.bin/wasm-opt -Os --converge -ocimfs=20 --strip-debug --strip-producers \
      --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$1/resocket_bg.wasm" -o "$1/resocket_bg.wasm"
  else
    echo "note: node_modules/.bin/wasm-opt missing (run scripts/install-deps.sh); wasm left unoptimised"
  fi
}
wasm_module pkg/docs "--features docs"
wasm_module pkg ""

# The wrapper (js/index.ts), the server API helper (js/server.ts, for backends: resocket/server)
# and the React layer (js/react/) are compiled in strict mode next to the glue they import. The
# wrapper is one source for both entries: compiled as pkg/index.ts against the client's glue and
# as pkg/docs/index.ts against the glue with documents next to it, so each `load()` loads its own
# module. The React layer ships as one module, pkg/react.js, on `resocket` (its provider takes
# `resocket/docs` as `module` for documents); its declarations stay one file per module under
# pkg/react/, re-exported by pkg/react.d.ts.
cp js/index.ts js/server.ts pkg/
cp js/index.ts pkg/docs/
cp -r js/react pkg/react
node_modules/.bin/tsc -p js/tsconfig.json
node_modules/.bin/esbuild pkg/react/index.js --bundle --format=esm --external:react --external:../index.js \
  --log-level=warning --outfile=pkg/react.js
# The modules import the package entry as "../index.js"; the bundle sits next to it.
sed -i 's#"\.\./index\.js"#"./index.js"#' pkg/react.js
echo 'export * from "./react/index.js";' >pkg/react.d.ts
rm pkg/index.ts pkg/server.ts pkg/docs/index.ts pkg/react/*.js
find pkg/react -name '*.ts' ! -name '*.d.ts' -delete
cp pkg-template/package.json pkg-template/README.md pkg/

# Ship minified JS, as a production bundle would serve it; the .d.ts files stay readable.
for file in pkg/resocket.js pkg/index.js pkg/server.js pkg/react.js pkg/docs/resocket.js pkg/docs/index.js \
  $(find pkg/snippets pkg/docs/snippets -name '*.js'); do
  node_modules/.bin/esbuild "$file" --minify --format=esm --log-level=warning --outfile="$file" --allow-overwrite
done

# What a browser loads for each entry: its module, the wasm-bindgen glue and the wrapper.
entry_size() {
  local dir=$1 total=0 gz file
  for file in "$dir/resocket_bg.wasm" "$dir/resocket.js" "$dir/index.js" $(find "$dir/snippets" -name '*.js'); do
    gz=$(gzip -9c "$file" | wc -c)
    total=$((total + gz))
    printf '  %-65s %7d bytes, %6d gzipped\n' "$file" "$(stat -c %s "$file")" "$gz" >&2
  done
  echo "$total"
}
total=$(entry_size pkg)
total_docs=$(entry_size pkg/docs)
printf 'client size (wasm + JS glue + TS wrapper), minified and gzipped: %d bytes\n' "$total"
printf 'client with documents (resocket/docs), minified and gzipped: %d bytes\n' "$total_docs"
# What the hook entry adds to a production app bundle (React, ReactDOM and resocket already in it).
app_size() {
  node_modules/.bin/esbuild "benches/size/$1.js" --bundle --minify --format=esm --alias:resocket=./pkg \
    --define:process.env.NODE_ENV='"production"' --log-level=error --outfile="out/size/$1.js"
  gzip -9c "out/size/$1.js" | wc -c
}
mkdir -p out/size
added=$(($(app_size app-with-hooks) - $(app_size app-without-hooks)))
printf 'React layer (resocket/react): %d bytes minified and gzipped on its own; adds %d bytes gzipped to an app bundle\n' \
  "$(gzip -9c pkg/react.js | wc -c)" "$added"
printf 'client %d\nclient_docs %d\nreact_added %d\ntoolchain %s\n' "$total" "$total_docs" "$added" \
  "$(basename "$(dirname "$(dirname "$(dirname "$wasm")")")")" >out/size/figures
scripts/size-budgets.sh
