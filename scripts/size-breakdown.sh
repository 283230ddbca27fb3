#!/usr/bin/env bash
# Where the client's WASM bytes go: the release module as build-pkg.sh optimises it, but with its
# function names kept (-g), broken down with twiggy by function and by module path (the first
# three segments of each name: `resocket::core::docs`, `resocket::ffi::out`, `talc::...`).
# Sizes are of the optimised module before gzip; the names section is left out of the figures.
# The module is the `resocket` one, without documents, as scripts/build-wasm.sh builds it (`make
# size` runs scripts/build-pkg.sh first, so it is already built).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v twiggy >/dev/null || cargo install twiggy --version =0.8.0
wasm=$(scripts/build-wasm.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node_modules/.bin/wasm-opt -Os --converge -ocimfs=40 -O4 -Oz --low-memory-unused -g --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$wasm" -o "$work/named.wasm"
twiggy top -n 1000000 --format csv "$work/named.wasm" >"$work/top.csv"
python3 - "$work/top.csv" "${SIZE_TOP:-20}" <<'EOF'
import csv, re, sys
rows = [(r["Name"], int(r["ShallowSize"])) for r in csv.DictReader(open(sys.argv[1]))]
top = int(sys.argv[2])
rows = [(name, size) for name, size in rows if "function names" not in name]
total = sum(size for _, size in rows)

def clean(name):
    # Symbol hashes, and the crate disambiguators of nightly's v0 names (`core[63f2d5f95aea4ca3]`).
    return re.sub(r"\[[0-9a-f]{16}\]", "", re.sub(r"::h[0-9a-f]{16}$", "", name))

def group(name):
    name = clean(name)
    if name.startswith("data segment"):
        return "data segments (strings, tables)"
    if name.startswith("import "):
        return "imports (the JS functions the module calls)"
    if "::" not in name:
        # The exports (`client_pump`, `room_join`): the ABI of src/ffi, with what they inline.
        return "exports (src/ffi, with what they inline)"
    generic = re.match(r"<&?(mut )?[A-Z]\w* as (.*)", name)
    if generic:  # <T as Trait>::method: the trait's path
        name = generic.group(2)
    elif name.startswith("<"):  # <Type as Trait>::method: the implementing type's path
        name = name[1:]
    path = re.split(r"[<{( ]", name, maxsplit=1)[0]
    parts = [p for p in path.split("::") if p]
    return "::".join(parts[:3])

groups = {}
for name, size in rows:
    groups[group(name)] = groups.get(group(name), 0) + size
print(f"WASM code and data, optimised, names left out: {total} bytes")
print(f"\nby module path (top {top}):")
for name, size in sorted(groups.items(), key=lambda g: -g[1])[:top]:
    print(f"  {size:7d}  {100 * size / total:5.1f}%  {name}")
print(f"\nby item (top {top}):")
for name, size in sorted(rows, key=lambda r: -r[1])[:top]:
    print(f"  {size:7d}  {100 * size / total:5.1f}%  {clean(name)[:110]}")
EOF
