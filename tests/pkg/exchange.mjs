// Starts examples/backend/exchange.mjs (the simulated exchange feed) on a free loopback port for
// a test file, and talks to its test controls.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../examples/backend/exchange.mjs", import.meta.url));

/** Resolves once the server prints its listening line: `{ url, http, control, stop }`. */
export function startExchange({ tradeMs = 50 } = {}) {
  const child = spawn(process.execPath, [script, "127.0.0.1:0"], {
    env: { ...process.env, EXCHANGE_TRADE_MS: String(tradeMs) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("exchange did not start")), 10_000);
    let out = "";
    child.on("exit", (code) => reject(new Error(`exchange exited with ${code}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /exchange listening on ([\d.]+:\d+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      const http = `http://${match[1]}`;
      resolve({
        url: `ws://${match[1]}/ws`,
        http,
        /** Calls a test control: `control("drop")`, `control("silence", 1500)`. */
        async control(name, ms) {
          const query = ms === undefined ? "" : `?ms=${ms}`;
          const method = name === "received" || name === "stats" ? "GET" : "POST";
          const res = await fetch(`${http}/control/${name}${query}`, { method });
          return res.json();
        },
        stop() {
          child.removeAllListeners("exit");
          child.kill("SIGTERM");
        },
      });
    });
  });
}
