import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));

export default {
  root,
  base: "./",
  logLevel: "warn",
  resolve: { alias: { resocket: fileURLToPath(new URL("../../../pkg/index.js", import.meta.url)) } },
  build: { emptyOutDir: true, target: "es2022" },
};
