// Receive-throughput benchmark: the resocket client against a raw browser WebSocket + JSON.parse,
// in the same page of headless Chromium, against the same server flood. Prints figures only.
import { launch, baseUrl } from "../tests/pkg/browser.mjs";

const count = Number(process.env.BENCH_MESSAGES ?? 30_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const pad = Number(process.env.BENCH_PAD ?? 64);

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${baseUrl}/bench.html`);
  const results = await page.evaluate(
    async ({ count, rounds, pad, secret }) => {
      const { connect, Client } = await import("/pkg/index.js");
      const wsUrl = `ws://${location.host}/ws`;
      const flood = () =>
        fetch(`/control/flood?count=${count}&pad=${pad}`, {
          method: "POST",
          headers: { "X-Resocket-Control-Secret": secret },
        });

      // Baseline: what an app without resocket does at least: parse and look at the envelope.
      async function raw() {
        const ws = new WebSocket(wsUrl);
        await new Promise((resolve) => (ws.onopen = resolve));
        ws.send(JSON.stringify({ kind: "hello", payload: { version: 1 } }));
        await new Promise((resolve) => (ws.onmessage = resolve)); // welcome
        let received = 0;
        let last = -1;
        const done = new Promise((resolve) => {
          ws.onmessage = (event) => {
            const frame = JSON.parse(event.data);
            if (frame.kind === "msg") {
              last = frame.payload.i;
              if (++received === count) resolve(performance.now());
            }
          };
        });
        const start = performance.now();
        await flood();
        const end = await done;
        ws.close();
        if (last !== count - 1) throw new Error("raw baseline lost messages");
        return end - start;
      }

      async function resocket() {
        const client = new Client(wsUrl, { heartbeat: { intervalMs: 0 } });
        await new Promise((resolve) => {
          const off = client.on("state", (s) => s.status === "open" && (off(), resolve()));
        });
        let received = 0;
        let last = -1;
        const done = new Promise((resolve) => {
          client.on("message", (payload) => {
            last = payload.i;
            if (++received === count) resolve(performance.now());
          });
        });
        const start = performance.now();
        await flood();
        const end = await done;
        client.free();
        if (last !== count - 1) throw new Error("resocket lost messages");
        return end - start;
      }

      await connect(wsUrl, { autoConnect: false }).then((c) => c.free()); // load the module first
      const times = { raw: [], resocket: [] };
      await raw(); // warm-up, not counted
      await resocket();
      // Each round runs both, the order swapping every round so neither always goes first.
      for (let r = 0; r < rounds; r++) {
        if (r % 2) {
          times.resocket.push(await resocket());
          times.raw.push(await raw());
        } else {
          times.raw.push(await raw());
          times.resocket.push(await resocket());
        }
      }
      return times;
    },
    { count, rounds, pad, secret: process.env.RESOCKET_CONTROL_SECRET ?? "" },
  );
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (ms) => Math.round((count / ms) * 1000);
  const raw = median(results.raw);
  const ours = median(results.resocket);
  console.log(`receive throughput, ${count} messages of ~${pad + 40} bytes, ${rounds} rounds of both, order alternating:`);
  console.log(`  raw WebSocket + JSON.parse: ${raw.toFixed(1)} ms  (${rate(raw)} msg/s)`);
  console.log(`  resocket client:            ${ours.toFixed(1)} ms  (${rate(ours)} msg/s)`);
  // Rounds run back to back share the machine's momentary load: the ratio within each round is
  // steadier than the ratio of medians, so its median is the figure held against the budget.
  const ratios = results.raw.map((r, i) => results.resocket[i] / r);
  console.log(`  resocket / raw time ratio:  ${median(ratios).toFixed(3)} median of per-round ratios (budget: at most 1.15); ratio of medians ${(ours / raw).toFixed(3)}; per round ${ratios.map((x) => x.toFixed(2)).join(" ")}`);
  console.log(`  all rounds (ms): raw ${results.raw.map((t) => t.toFixed(0)).join(" ")}; resocket ${results.resocket.map((t) => t.toFixed(0)).join(" ")}`);
} finally {
  await browser.close();
}
