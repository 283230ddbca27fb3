// A hostile client writes document keys that name prototypes (`__proto__`, `constructor`,
// `prototype`, `hasOwnProperty`, nested `__proto__` through a merge patch) over the raw
// protocol (the `ws` package in Node). An honest page in Chromium, synced before the writes
// (live ops) and another synced after them (a snapshot), must hold exactly the server's
// document (/control/doc), key by key, with every key an own property, nothing inherited and
// no object prototype polluted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { launch, openPage, baseUrl } from "./browser.mjs";

const secret = process.env.RESOCKET_CONTROL_SECRET;
let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** The next frame of `kind` on `ws` (listening starts now), within 5 s. */
function nextFrame(ws, kind) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} frame`)), 5000);
    const listener = (data) => {
      const frame = JSON.parse(String(data));
      if (frame.kind === kind) {
        clearTimeout(timer);
        ws.off("message", listener);
        resolve(frame);
      }
    };
    ws.on("message", listener);
  });
}

/** Connects as `mallory`, syncs `name` and applies `ops` one by one (each confirmed). */
async function hostileWrites(name, ops) {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/ws`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const welcome = nextFrame(ws, "welcome");
  ws.send(JSON.stringify({ kind: "hello", payload: { version: 1, user: "mallory" } }));
  const { origin } = (await welcome).payload;
  const snapshot = nextFrame(ws, "snapshot");
  ws.send(JSON.stringify({ kind: "sync", id: 1, room: name, payload: {} }));
  await snapshot;
  let cseq = 0;
  for (const [op, key, value] of ops) {
    cseq += 1;
    const applied = nextFrame(ws, "op");
    // Written by hand: a JS object literal would turn "__proto__" into a prototype.
    const payload = `{"origin":${JSON.stringify(origin)},"key":${JSON.stringify(key)},"op":"${op}","value":${value}}`;
    ws.send(`{"kind":"op","room":${JSON.stringify(name)},"seq":${cseq},"payload":${payload}}`);
    const frame = await applied;
    assert.equal(frame.payload.cseq, cseq, JSON.stringify(frame));
  }
  ws.close();
  return cseq;
}

/** A value as text with sorted keys, own keys only (`__proto__` included when own). */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

async function serverDoc(name) {
  const response = await fetch(`${baseUrl}/control/doc?name=${encodeURIComponent(name)}`, {
    headers: { "x-resocket-control-secret": secret },
  });
  assert.equal(response.status, 200, await response.clone().text());
  // JSON.parse keeps a key "__proto__" as an own property.
  return JSON.parse(await response.text());
}

const OPS = [
  ["set", "__proto__", `{"claimed":"mallory"}`],
  ["set", "constructor", `{"prototype":{"claimed":"mallory"}}`],
  ["set", "prototype", `{"claimed":"mallory"}`],
  ["set", "card", `{"title":"t","owner":null}`],
  ["merge", "card", `{"__proto__":{"claimed":"mallory"},"constructor":{"prototype":{"claimed":"mallory"}}}`],
  ["set", "hasOwnProperty", `"not a function"`],
  ["merge", "__proto__", `{"extra":1}`],
  ["set", "toString", `{"__proto__":null}`],
];

test("document keys naming prototypes: the honest page's views equal the server's, nothing polluted", async () => {
  const name = `hostile-keys-${Date.now()}`;
  const { page, errors } = await openPage(browser, "/basic/");
  // The first honest client syncs before the writes and sees them as live ops.
  await page.evaluate(async (name) => {
    const { connect } = await import("/pkg/docs/index.js");
    const client = await connect("/ws");
    const doc = client.doc(name);
    const changed = new Set();
    doc.on("change", ({ keys }) => keys.forEach((key) => changed.add(key)));
    await new Promise((resolve) => (doc.synced ? resolve() : doc.on("synced", resolve)));
    window.honest = { client, doc, changed };
  }, name);
  const rev = await hostileWrites(name, OPS);

  const truth = await serverDoc(name);
  assert.equal(truth.rev, rev);
  const serverKeys = Object.keys(truth.entries).sort();
  assert.deepEqual(serverKeys, [
    "__proto__",
    "card",
    "constructor",
    "hasOwnProperty",
    "prototype",
    "toString",
  ]);

  const views = await page.evaluate(
    async ({ name, rev }) => {
      const { connect } = await import("/pkg/docs/index.js");
      const waitFor = async (what, check) => {
        const until = Date.now() + 5000;
        while (!check()) {
          if (Date.now() > until) throw new Error(`timed out: ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      // A second honest client syncs after the writes: it starts from a snapshot.
      const late = await connect("/ws");
      const lateDoc = late.doc(name);
      const { doc, changed } = window.honest;
      await waitFor("the live view", () => doc.rev === rev);
      await waitFor("the snapshot", () => lateDoc.synced && lateDoc.rev === rev);
      const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
      const plain = (object) => Object.getPrototypeOf(object) === Object.prototype;
      const describe = (doc) => {
        const object = doc.toObject();
        const card = doc.get("card");
        const proto = doc.get("__proto__");
        return {
          rev: doc.rev,
          keys: [...doc.keys()].sort(),
          // Values as text (JSON.stringify writes own keys, "__proto__" included).
          view: Object.fromEntries([...doc.keys()].map((k) => [`key:${k}`, JSON.stringify(doc.get(k))])),
          objectKeys: Object.keys(object).sort(),
          object: Object.fromEntries(Object.keys(object).map((k) => [`key:${k}`, JSON.stringify(object[k])])),
          objectOwnsProto: own(object, "__proto__"),
          objectPlain: plain(object),
          objectInherits: object.claimed !== undefined || object.extra !== undefined,
          cardOwnsProto: own(card, "__proto__"),
          cardPlain: plain(card),
          cardInherits: card.claimed !== undefined,
          cardConstructorIsData: own(card, "constructor") && typeof card.constructor === "object",
          protoValuePlain: plain(proto) && !own(proto, "__proto__"),
        };
      };
      const result = {
        live: describe(doc),
        snapshot: describe(lateDoc),
        changed: [...changed].sort(),
        polluted: ({}).claimed !== undefined || Object.prototype.claimed !== undefined || ({}).extra !== undefined,
      };
      window.honest.client.free();
      late.free();
      return result;
    },
    { name, rev },
  );

  assert.equal(views.polluted, false, "no object prototype is polluted");
  assert.deepEqual(views.changed, serverKeys, "the change events named every key");
  for (const [label, view] of Object.entries({ live: views.live, snapshot: views.snapshot })) {
    assert.equal(view.rev, truth.rev, label);
    assert.deepEqual(view.keys, serverKeys, `${label}: keys()`);
    assert.deepEqual(view.objectKeys, serverKeys, `${label}: toObject() keys`);
    for (const key of serverKeys) {
      const expected = canonical(truth.entries[key].value);
      assert.equal(canonical(JSON.parse(view.view[`key:${key}`])), expected, `${label}: get(${key})`);
      assert.equal(canonical(JSON.parse(view.object[`key:${key}`])), expected, `${label}: toObject().${key}`);
    }
    assert.equal(view.objectOwnsProto, true, `${label}: toObject() owns "__proto__"`);
    assert.equal(view.objectPlain, true, `${label}: toObject() has the plain prototype`);
    assert.equal(view.objectInherits, false, `${label}: toObject() inherits nothing`);
    assert.equal(view.cardOwnsProto, true, `${label}: the merged card owns "__proto__"`);
    assert.equal(view.cardPlain, true, `${label}: the card has the plain prototype`);
    assert.equal(view.cardInherits, false, `${label}: the card inherits nothing`);
    assert.equal(view.cardConstructorIsData, true, `${label}: card.constructor is data`);
    assert.equal(view.protoValuePlain, true, `${label}: the "__proto__" value is a plain object`);
  }
  // And what the server holds is what was written.
  assert.equal(canonical(truth.entries.__proto__.value), `{"claimed":"mallory","extra":1}`);
  assert.equal(
    canonical(truth.entries.card.value),
    `{"__proto__":{"claimed":"mallory"},"constructor":{"prototype":{"claimed":"mallory"}},"owner":null,"title":"t"}`,
  );
  assert.deepEqual(errors, []);
});
