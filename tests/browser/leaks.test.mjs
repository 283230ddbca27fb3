// Nothing grows with use: every value crossing into WASM takes a slot of the JS value table
// (js/wasm/abi.ts), owned by one Rust value and freed when it drops, and Rust's own allocations
// are freed too. A client makes the same round of calls over and over (joins, members, presence,
// publishes, requests that succeed and fail, sends, metrics, leaves; with "resocket/docs" also
// document ops and reads): after a warm-up, the page's JS heap (after a forced GC) and the WASM
// memory must stay put. A slot left behind per round would show as the heap growing by a table
// entry and the value it holds (24 bytes at least) for each of the measured rounds. The warm-up
// is long: V8's own growth (feedback, optimized code) settles only after some 1,500 rounds (the
// heap then grew 45 KB, and 5 KB over the next 1,500), and some stays: up to 22 KB over 6,000
// rounds of documents, while the value table held no slot between rounds (checked with a probe
// of the table in a test build). So the figure is the heap over many rounds, against a bound
// that a slot a round exceeds.
import { test } from "node:test";
import { useBrowser, inPage, entries } from "./support.mjs";
import { catchWasmMemory } from "../pkg/browser.mjs";

// `gc()` in the page, and exact heap figures from `performance.memory`.
useBrowser(["--js-flags=--expose-gc", "--enable-precise-memory-info"]);

const WARM_ROUNDS = 1500;
const ROUNDS = 4000;
/** The most the heap may grow over `ROUNDS` rounds: 12 bytes a round. */
const MAX_HEAP_GROWTH = 48 * 1024;

for (const entry of entries) {
  test(`${entry}: the value table and WASM memory do not grow with use`, { timeout: 240_000 }, async () => {
    const figures = await inPage(
      async ({ entry, warm, rounds }) => {
        const { load, Client } = await import(entry);
        await load();
        const client = await kit.openClient(Client, kit.FAST);
        const docs = entry.endsWith("/docs");
        const base = kit.unique("leaks");
        const all = ["change", "confirmed", "rejected", "synced", "reset", "error"];
        const round = async (i) => {
          const room = client.join(`${base}-${i % 4}`, () => {}, { meta: { i } });
          await kit.waitFor("joined", 5_000, () => room.state.status === "joined", [room, "state"]);
          room.members();
          void room.membersStale;
          room.setPresence({ i, typing: true });
          await room.publish({ i, text: "hello" });
          kit.eq((await client.request("echo", { i, list: [1, "two"] })).i, i);
          await kit.rejects(client.request("nope", i), "an unknown method fails");
          client.send({ i });
          client.metrics();
          void client.session;
          room.leave();
          if (!docs) return;
          const doc = client.doc(`${base}-doc`);
          doc.set("card", { i, tags: ["a"] });
          doc.merge("card", { seen: true });
          doc.delete("gone");
          doc.get("card");
          doc.keys();
          doc.toObject();
          await kit.waitFor("synced", 5_000, () => doc.synced && doc.pending === 0, [doc, all]);
          doc.close();
        };
        const measure = async () => {
          // Every call of the round has settled (a round trip after them), then two collections.
          await kit.barrier(client);
          gc();
          gc();
          return { heap: performance.memory.usedJSHeapSize, wasm: window.wasmMemory.buffer.byteLength };
        };
        for (let i = 0; i < warm; i++) await round(i);
        const before = await measure();
        for (let i = warm; i < warm + rounds; i++) await round(i);
        const after = await measure();
        client.free();
        return { before, after };
      },
      { entry, warm: WARM_ROUNDS, rounds: ROUNDS },
      { setup: catchWasmMemory },
    );
    const heapGrowth = figures.after.heap - figures.before.heap;
    console.log(`${entry}: after ${ROUNDS} rounds the JS heap grew ${heapGrowth} bytes, WASM memory ${figures.after.wasm - figures.before.wasm}`);
    if (heapGrowth > MAX_HEAP_GROWTH) throw new Error(`the JS heap grew ${heapGrowth} bytes over ${ROUNDS} rounds (at most ${MAX_HEAP_GROWTH})`);
    if (figures.after.wasm !== figures.before.wasm) throw new Error(`WASM memory grew from ${figures.before.wasm} to ${figures.after.wasm} bytes`);
  });
}
