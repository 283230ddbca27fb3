// A release resocket-server of a test's own, on a loopback address, with its test controls:
// started, waited for (bounded), called and stopped the same way by every test that needs a
// server with its own flags (the shared one is started by scripts/test-pkg.sh).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The secret every TestServer of this process answers controls with. */
const controlSecret = randomBytes(24).toString("hex");

export class TestServer {
  /** Starts the server on `addr` with `args` (besides the address and the controls) and
   * resolves once it answers, within 10 s. */
  static async start(addr, args) {
    const server = new TestServer(addr, args);
    for (let attempt = 0; attempt < 100; attempt += 1) {
      assert.equal(server.child.exitCode, null, `the server on ${addr} exited:\n${server.log}`);
      try {
        await server.control("stats");
        return server;
      } catch {
        await sleep(100);
      }
    }
    server.child.kill("SIGKILL");
    assert.fail(`the server did not answer on ${addr}:\n${server.log}`);
  }

  constructor(addr, args) {
    this.addr = addr;
    /** Its stderr so far, shown when a test fails. */
    this.log = "";
    const allArgs = ["--addr", addr, "--test-controls", "--control-secret", controlSecret, ...args];
    this.child = spawn("target/release/resocket-server", allArgs, { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
    this.child.stderr.on("data", (chunk) => (this.log += chunk));
  }

  /** Calls control endpoint `path` (e.g. "stats", "drop"); resolves with its JSON answer. */
  async control(path, init = {}) {
    const response = await fetch(`http://${this.addr}/control/${path}`, {
      ...init,
      headers: { "x-resocket-control-secret": controlSecret },
    });
    assert.ok(response.ok, `${this.addr} control/${path}: ${response.status}`);
    return response.json();
  }

  /** Stops it with `signal` (SIGKILL: no close frame, nothing saved) and waits for the exit. */
  async stop(signal = "SIGTERM") {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill(signal);
    await exited;
  }
}

/** Polls `probe` in the page until it returns a truthy value (at most `timeoutMs`). */
export async function waitInPage(page, probe, arg, timeoutMs = 10000) {
  const handle = await page.waitForFunction(probe, arg, { timeout: timeoutMs, polling: 25 });
  return handle.jsonValue();
}
