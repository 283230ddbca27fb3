// Shared documents in a browser: the real WASM client of the built package, imported as
// "resocket/docs", in headless Chromium against the real test server. Each page also gets
// `window.docKit` (below): the helpers the documents' tests share.
import { test } from "node:test";
import { useBrowser, inPage } from "./support.mjs";

useBrowser();
const timeout = 60_000;

/** The documents' helpers, defined in the page as `window.docKit`. */
function defineDocKit() {
  const all = ["change", "confirmed", "rejected", "synced", "reset", "error"];
  window.docKit = {
    /** The server's copy of document `name` (control/doc). */
    serverDoc: (name) => kit.control(`/control/doc?name=${encodeURIComponent(name)}`),
    /** The view as a string with sorted keys, comparable across clients. */
    view: (doc) =>
      doc
        .keys()
        .map((key) => `${key}:${JSON.stringify(doc.get(key))}`)
        .join(","),
    /** The server's document in the same form. */
    serverView: (truth) =>
      Object.keys(truth.entries)
        .sort()
        .map((key) => `${key}:${JSON.stringify(truth.entries[key].value)}`)
        .join(","),
    /** Waits until `doc` is synced with nothing pending. */
    settled: (doc) => kit.waitFor("synced and nothing pending", 5_000, () => doc.synced && doc.pending === 0, [doc, all]),
    /** Two connected clients of `Client` with document `name` open and synced on both. */
    async twoClientsOn(Client, name) {
      const alice = await kit.openClient(Client, kit.FAST);
      const bob = await kit.openClient(Client, kit.FAST);
      const a = alice.doc(name);
      const b = bob.doc(name);
      await docKit.settled(a);
      await docKit.settled(b);
      return [alice, bob, a, b];
    },
    /** Waits until the two documents show the same view. */
    sameView: (a, b) =>
      kit.waitFor("same view", 5_000, () => docKit.view(a) === docKit.view(b), [a, all], [b, all]),
    /** Whether `object` has the plain object prototype and `key` as an own property. */
    ownKeyPlain: (object, key) => Object.getPrototypeOf(object) === Object.prototype && Object.hasOwn(object, key),
    all,
  };
}

/** Runs `body` in a test page that has `window.docKit`. */
const inDocPage = (body) => inPage(body, undefined, { setup: defineDocKit });

test("concurrent_edits_converge_on_both_clients_and_the_server", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const name = kit.unique("board");
    const [alice, bob, a, b] = await docKit.twoClientsOn(Client, name);
    a.set("card-1", { x: 1, y: 1 });
    kit.eq(kit.text(a.get("card-1")), '{"x":1,"y":1}', "applied at once");
    b.merge("card-1", { y: 2, z: 3 });
    b.set("card-2", "b");
    a.delete("card-2");
    await docKit.settled(a);
    await docKit.settled(b);
    await docKit.sameView(a, b);
    const truth = await docKit.serverDoc(name);
    kit.eq(docKit.view(a), docKit.serverView(truth));
    kit.eq(a.rev, truth.rev ?? -1);
    alice.close();
    bob.close();
  }),
);

test("a_compare_and_set_conflict_rolls_back_on_the_losers_side", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const name = kit.unique("cas");
    const [alice, bob, a, b] = await docKit.twoClientsOn(Client, name);
    const aRejected = kit.recorder(a, "rejected");
    const bRejected = kit.recorder(b, "rejected");
    // Both claim the free key at once; the server takes one and rejects the other.
    const ifFree = { ifRev: 0 };
    a.set("owner", "alice", ifFree);
    b.set("owner", "bob", ifFree);
    kit.eq(kit.text(b.get("owner")), '"bob"', "optimistic on bob's side");
    await docKit.settled(a);
    await docKit.settled(b);
    await docKit.sameView(a, b);
    kit.eq(aRejected.len + bRejected.len, 1, "exactly one loser");
    const [loserEvents, winner] = bRejected.len === 1 ? [bRejected, "alice"] : [aRejected, "bob"];
    const rejection = loserEvents.values()[0];
    kit.eq(rejection.error?.code, "Conflict");
    kit.eq(rejection.key, "owner");
    kit.eq(kit.text(a.get("owner")), `"${winner}"`);
    kit.eq(docKit.serverView(await docKit.serverDoc(name)), docKit.view(a));
    alice.close();
    bob.close();
  }),
);

test("edits_made_offline_are_applied_once_after_the_reconnect", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const name = kit.unique("offline");
    const [alice, bob, a, b] = await docKit.twoClientsOn(Client, name);
    a.set("n", 0);
    await docKit.settled(a);
    await kit.control("/control/drop?outage_ms=400", "");
    await kit.waitFor("offline", 3_000, () => kit.status(alice) !== "open", [alice, "state"]);
    for (let i = 1; i <= 3; i++) a.merge("log", { [`e${i}`]: i });
    a.set("n", 4);
    kit.eq(a.pending, 4);
    kit.eq(kit.text(a.get("log")), '{"e1":1,"e2":2,"e3":3}');
    await docKit.settled(a);
    await docKit.settled(b);
    await kit.waitFor("bob sees it", 5_000, () => docKit.view(a) === docKit.view(b), [a, docKit.all], [b, docKit.all]);
    const truth = await docKit.serverDoc(name);
    kit.eq(truth.rev, 5, "1 + 4 ops, each applied once");
    kit.eq(docKit.view(b), docKit.serverView(truth));
    kit.eq(kit.text(b.get("log")), '{"e1":1,"e2":2,"e3":3}');
    alice.close();
    bob.close();
  }),
);

test("a_reload_keeps_unsent_edits_and_they_apply_once", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const name = kit.unique("saved");
    const persist = { persist: `test:${name}` };
    // The first page never reaches the server: its edits stay pending, saved in storage.
    {
      const offline = new Client(kit.url, { autoConnect: false });
      const doc = offline.doc(name, persist);
      doc.set("a", 1);
      doc.merge("b", { x: 1 });
      kit.eq(doc.pending, 2);
      // The page goes away: its document closes and its client is freed.
      doc.close();
      offline.free();
    }
    // The reloaded page restores them, shows them at once, and sends them once.
    const online = new Client(kit.url, kit.FAST);
    let doc = online.doc(name, persist);
    kit.eq(doc.pending, 2, "restored before any network");
    kit.eq(kit.text(doc.get("b")), '{"x":1}');
    await docKit.settled(doc);
    const truth = await docKit.serverDoc(name);
    kit.eq(truth.rev, 2);
    kit.eq(docKit.serverView(truth), docKit.view(doc));
    // A third page starts from the saved confirmed state, nothing pending.
    online.close();
    doc.close();
    online.free();
    const third = new Client(kit.url, { autoConnect: false });
    doc = third.doc(name, persist);
    kit.eq([doc.pending, doc.rev], [0, 2]);
    kit.eq(kit.text(doc.get("a")), "1");
    third.free();
  }),
);

test("a_rejected_event_carries_the_op_for_reapplying", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const name = kit.unique("reapply");
    const alice = await kit.openClient(Client, kit.FAST);
    const doc = alice.doc(name);
    await docKit.settled(doc);
    doc.set("k", 1);
    await docKit.settled(doc);
    const rejected = kit.recorder(doc, "rejected");
    doc.merge("k", { y: 1 }, { ifRev: 99 });
    await kit.waitFor("rejected", 5_000, () => rejected.len === 1);
    const event = rejected.values()[0];
    kit.eq(event.op, "merge");
    kit.eq(kit.text(event.value), '{"y":1}');
    // Re-apply on the new state, without the stale revision.
    doc.merge("k", event.value);
    await docKit.settled(doc);
    kit.eq(kit.text(doc.get("k")), '{"y":1}');
    alice.close();
  }),
);

test("a_refused_sync_is_the_documents_own_error_and_it_stays_unsynced", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const alice = await kit.openClient(Client, kit.FAST);
    const clientErrors = kit.recorder(alice, "error");
    // Longer than the server accepts: it refuses the sync.
    const doc = alice.doc("d".repeat(300));
    const docErrors = kit.recorder(doc, "error");
    await kit.waitFor("the document's error", 5_000, () => docErrors.len === 1);
    kit.eq(docErrors.values()[0].code, "BadRequest");
    kit.eq(doc.synced, false);
    kit.eq(clientErrors.len, 0, "not reported as the client's error");
    // Edits still show at once; they wait, unsent, for a sync that succeeds.
    doc.set("k", 1);
    kit.eq(kit.text(doc.get("k")), "1");
    kit.eq(doc.pending, 1);
    alice.close();
  }),
);

test("a_key_named_proto_stays_an_ordinary_key_in_views_merges_and_saved_copies", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const name = kit.unique("proto");
    const [alice, bob, a, b] = await docKit.twoClientsOn(Client, name);
    // Another client writes a top-level key "__proto__" and a nested one, then merges into both.
    a.set("__proto__", JSON.parse('{"claimedBy":"mallory"}'));
    a.set("card", JSON.parse('{"__proto__":{"claimedBy":"mallory"},"title":"t"}'));
    a.merge("card", JSON.parse('{"__proto__":{"x":1}}'));
    await docKit.settled(a);
    await kit.waitFor("bob has both keys", 5_000, () => b.rev === 3, [b, docKit.all]);

    const truth = await docKit.serverDoc(name);
    kit.eq(docKit.serverView(truth), docKit.view(b));
    kit.eq(docKit.view(a), docKit.view(b));
    kit.eq(b.keys(), ["__proto__", "card"]);
    kit.eq(kit.text(b.get("__proto__")), '{"claimedBy":"mallory"}');
    const card = b.get("card");
    kit.eq(kit.text(card), '{"__proto__":{"claimedBy":"mallory","x":1},"title":"t"}');
    kit.ok(docKit.ownKeyPlain(card, "__proto__"), "merged: own key, plain prototype");
    kit.ok(card.claimedBy === undefined, "nothing inherited");

    for (const doc of [a, b]) {
      const object = doc.toObject();
      kit.ok(docKit.ownKeyPlain(object, "__proto__"), "toObject: own key, plain prototype");
      kit.ok(object.claimedBy === undefined, "toObject: nothing inherited");
      kit.eq(
        kit.text(object),
        '{"__proto__":{"claimedBy":"mallory"},"card":{"__proto__":{"claimedBy":"mallory","x":1},"title":"t"}}',
      );
    }
    // The plain object prototype itself is untouched.
    kit.ok({}.claimedBy === undefined, "Object.prototype untouched");

    // Saved copies keep the keys too: a page restoring it from storage sees the same view.
    const persist = { persist: `test:${name}` };
    const saved = bob.doc(`${name}-saved`, persist);
    await docKit.settled(saved);
    saved.set("__proto__", JSON.parse('{"claimedBy":"mallory"}'));
    await docKit.settled(saved);
    saved.close();
    const offline = new Client(kit.url, { autoConnect: false });
    const restored = offline.doc(`${name}-saved`, persist);
    kit.eq(restored.rev, 1);
    const object = restored.toObject();
    kit.ok(docKit.ownKeyPlain(object, "__proto__"), "restored: own key");
    kit.eq(kit.text(object), '{"__proto__":{"claimedBy":"mallory"}}');
    offline.close();
    alice.close();
    bob.close();
  }),
);

test("a_local_merge_patch_nested_too_deep_is_refused", { timeout }, () =>
  inDocPage(async () => {
    const { load, Client } = await import("resocket/docs");
    await load();
    const alice = await kit.openClient(Client, kit.FAST);
    const doc = alice.doc(kit.unique("deep"));
    await docKit.settled(doc);
    const nested = (depth) => JSON.parse(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`);
    const error = kit.throws(() => doc.merge("k", nested(129)), "refused");
    kit.eq(error.code, "InvalidOptions");
    doc.merge("k", nested(100)); // accepted
    await docKit.settled(doc);
    kit.eq(doc.pending, 0);
    alice.close();
  }),
);
