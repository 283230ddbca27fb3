// Builds the example apps (landing page, trading, chat, board) as one multi-page Vite app into
// $OUT (default out/demo). scripts/assemble-demo.sh has already put the plain demo in $OUT/basic
// and the package in $OUT/pkg, so the output directory is not emptied.
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "..");
const page = (name) => resolve(here, name, "index.html");

export default {
  root: here,
  // Relative asset URLs: the site works wherever it is served from.
  base: "./",
  logLevel: "warn",
  publicDir: false,
  resolve: {
    // The apps import the package by name, as a user would; here it is the freshly built pkg/.
    // Exact matches, so "resocket" does not also capture "resocket/react".
    alias: [
      { find: /^resocket$/, replacement: resolve(repo, "pkg/index.js") },
      { find: /^resocket\/docs$/, replacement: resolve(repo, "pkg/docs/index.js") },
      { find: /^resocket\/react$/, replacement: resolve(repo, "pkg/react.js") },
    ],
  },
  // No React plugin is needed for a production build: Vite's own transform compiles TSX with
  // the automatic JSX runtime.
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: resolve(repo, process.env.OUT ?? "out/demo"),
    emptyOutDir: false,
    target: "es2022",
    rolldownOptions: {
      input: {
        index: resolve(here, "index.html"),
        trading: page("trading"),
        chat: page("chat"),
        board: page("board"),
      },
    },
  },
};
