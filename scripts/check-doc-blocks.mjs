#!/usr/bin/env node
// Type-checks every ```ts and ```tsx block of the docs against the built package (pkg/), under
// `tsc --strict`, so a README example that no longer compiles fails `make test`.
//
// Each block becomes its own module under out/doc-blocks/ (named after its file and line), and
// one tsc run checks them all with "resocket", "resocket/docs", "resocket/react" and
// "resocket/server" mapped to pkg/. Blocks may call the app's own functions (render, toast, resync...) and use a `client`,
// `room` or `board` made in an earlier block: scripts/doc-blocks-prelude.d.ts declares those
// once. Errors are printed at the Markdown file and line of the block. It also checks that the
// README has a table row for every error code and client option the package declares.
//
// Usage: node scripts/check-doc-blocks.mjs [FILE.md...] (default: the READMEs and docs/*.md).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "out/doc-blocks");
const docs = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ["README.md", "pkg-template/README.md", "examples/README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

for (const file of ["pkg/index.d.ts", "pkg/docs/index.d.ts", "pkg/react.d.ts", "pkg/server.d.ts"]) {
  if (!existsSync(join(root, file))) throw new Error(`${file} missing: build the package first (scripts/build-pkg.sh)`);
}

/** Every ts/tsx fenced block of `file`: its language, first code line (1-based) and text, with
 * the fence's indentation (blocks inside list items) removed. */
function blocks(file) {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(tsx?)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, lang] = open;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    if (j == lines.length) throw new Error(`${file}:${i + 1}: unclosed code block`);
    found.push({ lang, line: i + 2, indent: indent.length, text: body.join("\n") });
    i = j;
  }
  return found;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(join(root, "scripts/doc-blocks-prelude.d.ts"), join(out, "prelude.d.ts"));
/** Generated module name → where its block is. */
const origin = new Map();
for (const file of docs) {
  if (!existsSync(join(root, file))) continue;
  for (const block of blocks(file)) {
    const name = `${file.replace(/[^A-Za-z0-9]+/g, "_")}_L${block.line}.${block.lang}`;
    // `export {}` keeps each block a module of its own, so top-level names never collide.
    writeFileSync(join(out, name), `${block.text}\nexport {};\n`);
    origin.set(name, { file, ...block });
  }
}

const pkg = (path) => [relative(out, join(root, "pkg", path))];
writeFileSync(
  join(out, "tsconfig.json"),
  JSON.stringify(
    {
      compilerOptions: {
        target: "es2022",
        module: "es2022",
        moduleResolution: "bundler",
        lib: ["es2023", "esnext.disposable", "dom", "dom.iterable"],
        jsx: "react-jsx",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        // Only what the prelude declares: no stray @types leaking into the examples.
        types: [],
        paths: {
          resocket: pkg("index.d.ts"),
          "resocket/docs": pkg("docs/index.d.ts"),
          "resocket/react": pkg("react.d.ts"),
          "resocket/server": pkg("server.d.ts"),
        },
      },
      include: ["*.ts", "*.tsx"],
    },
    null,
    2,
  ),
);

let output = "";
try {
  execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(out, "tsconfig.json"), "--pretty", "false"], { encoding: "utf8", stdio: "pipe" });
} catch (error) {
  output = `${error.stdout ?? ""}${error.stderr ?? ""}`;
  if (!output) throw error;
}

// tsc reports `out/doc-blocks/NAME(line,col): error ...`: point at the Markdown instead.
const report = output
  .split("\n")
  .filter(Boolean)
  .map((line) => {
    const at = /^(?:.*[\\/])?([^\\/(]+)\((\d+),(\d+)\): (.*)$/.exec(line);
    const block = at && origin.get(at[1]);
    if (!block) return line;
    return `${block.file}:${block.line + Number(at[2]) - 1}:${block.indent + Number(at[3])}: ${at[4]}  (block at line ${block.line})`;
  });
if (report.length) {
  console.error(report.join("\n"));
  console.error(`doc blocks: the TypeScript above fails strict type checking (modules in ${relative(root, out)}/)`);
  process.exit(1);
}
// Every error code and client option the package declares has its row in the README's tables
// ("States, events and errors", "Options and defaults"): the first cell of a row names it.
const declared = readFileSync(join(root, "pkg/wasm/types.d.ts"), "utf8");
const rows = new Set(
  readFileSync(join(root, "README.md"), "utf8")
    .split("\n")
    .map((line) => /^\| `([^`]+)`/.exec(line)?.[1])
    .filter(Boolean),
);
const interfaces = new Map(
  [...declared.matchAll(/export interface (\w+) \{([\s\S]*?)\n\}/g)].map(([, name, body]) => [
    name,
    [...body.matchAll(/^(?: {2}| {4})(\w+)\??: ([^;]+);/gm)].map(([, key, type]) => ({ key, type })),
  ]),
);
const codes = /export type ResocketErrorCode =([^;]+);/.exec(declared)?.[1].match(/"\w+"/g)?.map((c) => c.slice(1, -1)) ?? [];
const options = (interfaces.get("ClientOptions") ?? []).flatMap(({ key, type }) => {
  const nested = interfaces.get(/^(\w+Options)\b/.exec(type)?.[1] ?? "");
  return nested ? nested.map((sub) => `${key}.${sub.key}`) : [key];
});
if (!codes.length || !options.length) throw new Error("pkg/wasm/types.d.ts: no ResocketErrorCode or ClientOptions found");
const undocumented = [...codes.map((c) => ["error code", c]), ...options.map((o) => ["option", o])].filter(([, name]) => !rows.has(name));
if (undocumented.length) {
  for (const [what, name] of undocumented) console.error(`README.md: the ${what} \`${name}\` has no table row (| \`${name}\` | ... |)`);
  process.exit(1);
}
const files = new Set([...origin.values()].map((b) => b.file));
console.log(`doc blocks: ${origin.size} TypeScript blocks in ${files.size} files type-check under --strict (${[...files].join(", ")}); README documents all ${codes.length} error codes and ${options.length} options`);
