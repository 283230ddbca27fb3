// The chaos run's bookkeeping on hand-written logs: it must call a broken promise broken (a
// checker that passes everything proves nothing). Run by scripts/chaos.sh before the run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { account, failures } from "./accounting.mjs";

const serverDoc = { rev: 1, entries: { "c0-k1": { value: 1, rev: 1 } } };
const calm = { settled: true, fenced: true, converged: true };

/** A client that saw `events` and made one op (`c0-k1`, confirmed) and nothing else. */
function client(events, extra = {}) {
  return {
    user: "c0",
    events: [...events, { type: "confirmed", cseq: 1, t: 100 }],
    publishes: [],
    requests: [],
    ops: [{ key: "c0-k1", value: 1, cseq: 1 }],
    doc: { rev: 1, view: { "c0-k1": 1 }, pending: 0, synced: true },
    pageErrors: [],
    ...extra,
  };
}

const sent = (id, seq, at, incarnation = 1) => ({ id, at, outcome: "ok", seq, incarnation });
const msg = (id, seq, t) => ({ type: "msg", id, seq, t });
const notice = (t) => ({ type: "room", status: "joined", recovered: false, t });

function check(clientLog, serverPublishes, effects = new Map()) {
  return failures(account({ clients: [clientLog], serverPublishes, effects, serverDoc, calm }));
}

test("every message delivered once: nothing broken", () => {
  const publishes = [sent("s-1", 1, 10), sent("s-2", 2, 20)];
  assert.deepEqual(check(client([msg("s-1", 1, 11), msg("s-2", 2, 21)]), publishes), []);
});

test("strict (the Redis engine): a loss, even with a notice, and a lost session are broken", () => {
  const publishes = [sent("s-1", 1, 10), sent("s-2", 1, 30, 2)];
  const log = client([{ type: "session", lost: true, t: 35 }, notice(40), msg("s-2", 1, 41)]);
  const broken = failures(account({ clients: [log], serverPublishes: publishes, effects: new Map(), serverDoc, calm }), {
    strict: true,
  });
  assert.equal(broken.length, 3, broken.join("\n"));
  assert.match(broken.join("\n"), /1 room messages lost \(with a notice\)/);
  assert.match(broken.join("\n"), /1 sessions lost/);
});

test("a loss with a later recovered: false notice is allowed and counted", () => {
  const publishes = [sent("s-1", 1, 10), sent("s-2", 1, 30, 2)];
  const log = client([notice(40), msg("s-2", 1, 41)]);
  assert.deepEqual(check(log, publishes), []);
  const report = account({ clients: [log], serverPublishes: publishes, effects: new Map(), serverDoc, calm });
  assert.equal(report.rows[0].room.lostWithNotice, 1);
});

test("a loss without a notice, or with one from before it was sent, is broken", () => {
  const publishes = [sent("s-1", 1, 10), sent("s-2", 2, 20)];
  assert.match(check(client([msg("s-2", 2, 21)]), publishes).join("\n"), /lost without a recovered: false notice: s-1/);
  assert.match(check(client([notice(5), msg("s-2", 2, 21)]), publishes).join("\n"), /lost without/);
});

test("a gap stepped over before the notice is a loss without a notice", () => {
  const publishes = [sent("s-1", 1, 10), sent("s-2", 2, 20), sent("s-3", 1, 50, 2)];
  // s-2 of the same stream arrived without s-1, and only then came a (restart's) notice.
  const log = client([msg("s-2", 2, 21), notice(45), msg("s-3", 1, 51)]);
  assert.match(check(log, publishes).join("\n"), /lost without a recovered: false notice: s-1/);
});

test("a duplicate, a phantom and an unsettled publish are broken", () => {
  const publishes = [sent("s-1", 1, 10), { id: "s-2", at: 20, outcome: "refused", seq: null }];
  const log = client([msg("s-1", 1, 11), msg("s-1", 1, 12), msg("s-2", 2, 21)], {
    publishes: [{ id: "c0-p1", at: 5, settled: 0, outcome: null, seq: null }],
  });
  const broken = check(log, publishes).join("\n");
  assert.match(broken, /delivered twice: s-1 x2/);
  assert.match(broken, /publish was refused: s-2/);
  assert.match(broken, /publishes never settled: c0-p1/);
});

test("requests: never settled, effects twice, resolved without effect", () => {
  const requests = [
    { op: "c0-r1", at: 1, settled: 1, outcome: "ok" },
    { op: "c0-r2", at: 2, settled: 1, outcome: "ok" },
    { op: "c0-r3", at: 3, settled: 0, outcome: null },
    { op: "c0-r4", at: 4, settled: 1, outcome: "SessionLost" },
  ];
  const effects = new Map([["c0-r1", 2], ["c0-r3", 1]]);
  const broken = check(client([], { requests }), [], effects).join("\n");
  assert.match(broken, /requests never settled: c0-r3/);
  assert.match(broken, /effects run twice: c0-r1 x2/);
  assert.match(broken, /resolved without their effect: c0-r2/);
  assert.doesNotMatch(broken, /c0-r4/);
});

test("documents: an op lost without a reset, or a divergent copy, is broken", () => {
  const ops = [
    { key: "c0-k1", value: 1, cseq: 1 },
    { key: "c0-k2", value: 2, cseq: 2 },
  ];
  // c0-k2 was confirmed and is gone without a reset after it.
  const lost = client([{ type: "confirmed", cseq: 2, t: 50 }], { ops });
  assert.match(check(lost, []).join("\n"), /document ops lost without a reset: c0-k2/);
  // With a reset after its confirmation, it is a loss with a notice.
  const wiped = client([{ type: "confirmed", cseq: 2, t: 50 }, { type: "reset", rev: 0, t: 60 }], { ops });
  assert.deepEqual(check(wiped, []), []);
  const diverged = client([], { doc: { rev: 1, view: { "c0-k1": 7 }, pending: 0, synced: true } });
  assert.match(check(diverged, []).join("\n"), /did not converge/);
});
