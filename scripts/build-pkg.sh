#!/usr/bin/env bash
# Builds the npm package into pkg/: the WASM client, the TypeScript that drives it and the
# hand-written package files, for two entries: `resocket` and `resocket/docs` (the same with
# shared documents). Prints the gzipped size of what a browser loads for each.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf pkg
mkdir -p pkg/docs

# One module of the client: the crate built with `$2` (cargo flags), optimised into
# `$1/resocket_bg.wasm`. The package holds two: with documents (the `docs` feature) in pkg/docs/
# for `resocket/docs`, and without in pkg/ for `resocket`.
# scripts/build-wasm.sh picks the toolchain (the pinned nightly's build-std, or stable) and
# prints where the module is. There is no wasm-bindgen step: the JS side (js/wasm/) is written
# by hand against the module's exports and imports (src/ffi).
#
# Debian's wasm-opt is too old; the npm binaryen one is not. Tuned for what a browser
# downloads, the gzipped module: -Os rather than -Oz, functions with one caller inlined only when
# small (-ocimfs=40), and `--low-memory-unused`, which lets wasm-opt fold address offsets: Rust's
# wasm32 module puts its stack first (data starts at 1 MiB, the stack grows down from there), so
# the low 1 KiB is only ever reached by a stack about to overflow (165 bytes less gzipped with
# the inlining change). Then one round of -O4 (it flattens the code and inlines and propagates
# more), which leaves what the final -Oz shrinks further: 128 bytes less gzipped for the client
# and 72 with documents than -Os alone (wasm-opt 132; each -O round runs with its own levels).
#
# The names of the imports and exports are shortened too (`--minify-imports-and-exports-and-modules`,
# which prints the new names and puts every import in one module): the JS names them
# `_<module>_<name>` (js/wasm/abi.ts's imports) and `_<export>` (`wasm._client_pump`), and its
# bundle (below) is given the same renaming as an esbuild mangle cache, `$1/.names.json`,
# removed once used.
wasm_module() {
  # shellcheck disable=SC2086 # $2 is a list of flags
  wasm=$(scripts/build-wasm.sh $2)
  local features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-reference-types --enable-multivalue)
  node_modules/.bin/wasm-opt -Os --converge -ocimfs=40 -O4 -Oz --low-memory-unused --strip-debug --strip-producers \
    "${features[@]}" "$wasm" -o "$1/resocket_bg.wasm"
  node_modules/.bin/wasm-opt --minify-imports-and-exports-and-modules "${features[@]}" \
    "$1/resocket_bg.wasm" -o "$1/resocket_bg.wasm" |
    node -e 'let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
      const { imports, exports } = JSON.parse(t.slice(t.indexOf("{")));
      const names = [...imports.map(([module, name, short]) => [`_${module}_${name}`, short]),
        ...exports.map(([name, short]) => ["_" + name, short])];
      console.log(JSON.stringify(Object.fromEntries(names)));
    })' >"$1/.names.json"
}
wasm_module pkg/docs "--features docs"
wasm_module pkg ""

# Declarations, strict: the entries (js/index.ts, js/docs/index.ts), the client's classes
# (js/wasm/), the server API helper (js/server.ts, for backends: resocket/server) and the React
# layer (js/react/, one declaration file per module under pkg/react/, re-exported by
# pkg/react.d.ts). Members marked @internal stay out of them.
node_modules/.bin/tsc -p js/tsconfig.json
echo 'export * from "./react/index.js";' >pkg/react.d.ts

# The code, bundled and minified as a production bundle would serve it: each client entry is one
# file next to its module, so each `load()` loads its own. Properties named `_x` are the
# classes' internals and the module's imports and exports: shortened, as private names are (the
# imports and exports to the names wasm-opt gave them).
bundle() {
  node_modules/.bin/esbuild "$1" --bundle --minify --format=esm --target=es2022 --log-level=warning --outfile="$2" "${@:3}"
}
bundle js/index.ts pkg/index.js --mangle-props='^_[a-z]' --mangle-cache=pkg/.names.json
bundle js/docs/index.ts pkg/docs/index.js --mangle-props='^_[a-z]' --mangle-cache=pkg/docs/.names.json
rm pkg/.names.json pkg/docs/.names.json
bundle js/server.ts pkg/server.js
# The React layer ships as one module on `resocket` (its provider takes `resocket/docs` as
# `module` for documents); it imports the package entry, "../index.js" in its sources. Its
# classes' internals are named `_x` too, and shortened the same way.
bundle js/react/index.ts pkg/react.js --external:react --external:../index.js --mangle-props='^_[a-z]'
sed -i 's#"\.\./index\.js"#"./index.js"#' pkg/react.js
cp pkg-template/package.json pkg-template/README.md pkg/

# What a browser loads for each entry: its module and its JS.
entry_size() {
  local dir=$1 total=0 gz file
  for file in "$dir/resocket_bg.wasm" "$dir/index.js"; do
    gz=$(gzip -9c "$file" | wc -c)
    total=$((total + gz))
    printf '  %-65s %7d bytes, %6d gzipped\n' "$file" "$(stat -c %s "$file")" "$gz" >&2
  done
  echo "$total"
}
total=$(entry_size pkg)
total_docs=$(entry_size pkg/docs)
printf 'client size (wasm + JS), minified and gzipped: %d bytes\n' "$total"
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
