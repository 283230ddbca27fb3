// The chaos run's bookkeeping: what was sent and what each client saw, turned into counts, the
// table, and the list of broken promises. Pure functions of the logs (chaos.mjs gathers them).
//
// A client's log: `events` in the order the page saw them (`msg` {id, seq}, `room` {status,
// recovered}, `session`, `confirmed` {cseq}, `rejected` {cseq, code}, `reset`), each with `t`
// (wall-clock ms); `publishes` {id, at, settled, outcome}; `requests` {op, at, settled, outcome};
// `ops` {key, value, cseq}; `doc` {rev, view, pending, synced}.

/**
 * What a published message is, by app-level id: `sent` (the server confirmed it: control publish
 * answered, or `room.publish` resolved with its seq), `unconfirmed` (it may or may not have taken
 * effect: the connection broke mid-call, or the publish rejected `SessionLost`) or `refused`
 * (it never reached the stream). `at` is when its publish started; the server's own messages
 * also know their `seq` and the server `incarnation` whose stream holds them.
 */
function classifyMessages(clients, serverPublishes) {
  const messages = new Map();
  for (const p of serverPublishes) {
    const kind = p.outcome === "ok" ? "sent" : p.outcome === "refused" ? "refused" : "unconfirmed";
    messages.set(p.id, { kind, at: p.at, seq: p.seq, incarnation: p.incarnation });
  }
  for (const client of clients) {
    for (const p of client.publishes) {
      const kind = p.outcome === "ok" ? "sent" : p.outcome === "SessionLost" || p.outcome === null ? "unconfirmed" : "refused";
      messages.set(p.id, { kind, at: p.at });
    }
  }
  return messages;
}

function roomRow(client, messages) {
  const deliveries = new Map();
  /** Where in the log each message was first delivered. */
  const deliveredAt = new Map();
  const notices = [];
  client.events.forEach((event, index) => {
    if (event.type === "msg") {
      deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1);
      if (!deliveredAt.has(event.id)) deliveredAt.set(event.id, index);
    }
    if (event.type === "room" && event.status === "joined" && event.recovered === false) notices.push({ ...event, index });
  });
  /** Server messages by incarnation, for the gap check below. */
  const byIncarnation = new Map();
  for (const [id, message] of messages) {
    if (message.incarnation === undefined || message.incarnation === null) continue;
    if (!byIncarnation.has(message.incarnation)) byIncarnation.set(message.incarnation, []);
    byIncarnation.get(message.incarnation).push({ id, seq: message.seq });
  }
  // A loss is covered when this client was told `recovered: false` after the message was sent,
  // and had not delivered, before that notice, a later message of the same stream (that would
  // be a gap the client stepped over without a word).
  const covered = (message) => {
    const notice = notices.find((n) => n.t >= message.at);
    if (!notice) return false;
    const stream = byIncarnation.get(message.incarnation) ?? [];
    return !stream.some((other) => other.seq > message.seq && (deliveredAt.get(other.id) ?? Infinity) < notice.index);
  };
  const row = {
    sent: 0,
    delivered: 0,
    lostWithNotice: 0,
    lostWithoutNotice: [],
    duplicated: [],
    unconfirmed: 0,
    unconfirmedDelivered: 0,
    refusedDelivered: [],
    unknownDelivered: [],
    notices: notices.length,
    sessionsLost: client.events.filter((e) => e.type === "session" && e.lost).length,
  };
  for (const [id, count] of deliveries) {
    if (count > 1) row.duplicated.push(`${id} x${count}`);
    const message = messages.get(id);
    if (!message) row.unknownDelivered.push(String(id));
    else if (message.kind === "refused") row.refusedDelivered.push(id);
  }
  for (const [id, message] of messages) {
    if (message.kind === "unconfirmed") {
      row.unconfirmed += 1;
      if (deliveries.has(id)) row.unconfirmedDelivered += 1;
    }
    if (message.kind !== "sent") continue;
    row.sent += 1;
    if (deliveries.has(id)) row.delivered += 1;
    else if (covered(message)) row.lostWithNotice += 1;
    else row.lostWithoutNotice.push(id);
  }
  return row;
}

/** Counts settled outcomes: `ok`, `SessionLost`, other codes, settled twice, never. */
function settleRow(entries) {
  const row = { made: entries.length, once: 0, ok: 0, sessionLost: 0, other: [], twice: [], never: [] };
  for (const entry of entries) {
    const name = entry.id ?? entry.op;
    if (entry.settled === 1) row.once += 1;
    if (entry.settled === 0) row.never.push(name);
    if (entry.settled > 1) row.twice.push(name);
    if (entry.outcome === "ok") row.ok += 1;
    else if (entry.outcome === "SessionLost") row.sessionLost += 1;
    else if (entry.outcome !== null) row.other.push(`${name}: ${entry.outcome}`);
  }
  return row;
}

function requestRow(client, effects) {
  const row = { ...settleRow(client.requests), effectsTwice: [], okWithoutEffect: [], effectsRun: 0 };
  for (const request of client.requests) {
    const runs = effects.get(request.op) ?? 0;
    if (runs > 0) row.effectsRun += 1;
    if (runs > 1) row.effectsTwice.push(`${request.op} x${runs}`);
    if (request.outcome === "ok" && runs === 0) row.okWithoutEffect.push(request.op);
  }
  return row;
}

/**
 * A document op (a `set` of a key only this op writes) must end on the server with its value,
 * unless it was rejected, or confirmed and then wiped by a `reset` (the server's document
 * started another history): a loss with a notice.
 */
function docRow(client, serverDoc) {
  const row = {
    made: client.ops.length,
    applied: 0,
    lostWithReset: 0,
    lostWithoutNotice: [],
    rejected: 0,
    reappliedAfterReset: [],
    wrongValue: [],
    converged: false,
  };
  const indexOf = (type, cseq) => {
    let last = -1;
    client.events.forEach((e, i) => {
      if (e.type === type && (cseq === undefined || e.cseq === cseq)) last = i;
    });
    return last;
  };
  const lastReset = indexOf("reset");
  for (const op of client.ops) {
    const entry = serverDoc.entries[op.key];
    const confirmed = indexOf("confirmed", op.cseq);
    const wipedByReset = confirmed >= 0 && lastReset > confirmed;
    if (indexOf("rejected", op.cseq) >= 0) row.rejected += 1;
    else if (entry === undefined) {
      if (wipedByReset) row.lostWithReset += 1;
      else row.lostWithoutNotice.push(op.key);
    } else if (wipedByReset) row.reappliedAfterReset.push(op.key);
    else if (JSON.stringify(entry.value) !== JSON.stringify(op.value)) row.wrongValue.push(op.key);
    else row.applied += 1;
  }
  const serverView = Object.fromEntries(Object.entries(serverDoc.entries).map(([key, entry]) => [key, entry.value]));
  row.converged =
    client.doc.synced &&
    client.doc.pending === 0 &&
    client.doc.rev === serverDoc.rev &&
    sameObject(client.doc.view, serverView);
  return row;
}

function sameObject(a, b) {
  const keys = Object.keys(a).sort();
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => Object.hasOwn(b, key) && JSON.stringify(a[key]) === JSON.stringify(b[key]))
  );
}

/** Everything counted, per client and in total. */
export function account({ clients, serverPublishes, effects, serverDoc, calm, unexpectedExits = [] }) {
  const messages = classifyMessages(clients, serverPublishes);
  const rows = clients.map((client) => ({
    user: client.user,
    room: roomRow(client, messages),
    publishes: settleRow(client.publishes),
    requests: requestRow(client, effects),
    doc: docRow(client, serverDoc),
    pageErrors: client.pageErrors,
  }));
  const serverSent = serverPublishes.filter((p) => p.outcome === "ok").length;
  // Every op writes its own key once: more revisions than keys means an op applied twice.
  const docKeys = Object.keys(serverDoc.entries).length;
  const docExtraRevisions = serverDoc.rev - docKeys;
  return {
    rows,
    serverSent,
    serverPublishes: serverPublishes.length,
    docRev: serverDoc.rev,
    docKeys,
    docExtraRevisions,
    calm,
    unexpectedExits,
  };
}

/** The broken promises, one line each (empty: all held). */
/**
 * What broke a promise. `strict` (the Redis engine, whose nodes restart without losing state)
 * also counts what the memory engine may do with a notice: messages lost at all, sessions lost,
 * document resets.
 */
export function failures(report, { strict = false } = {}) {
  const out = [];
  const list = (items) => (items.length > 5 ? `${items.slice(0, 5).join(", ")}, ...` : items.join(", "));
  for (const { user, room, publishes, requests, doc, pageErrors } of report.rows) {
    const check = (items, what) => items.length > 0 && out.push(`${user}: ${items.length} ${what}: ${list(items)}`);
    check(room.lostWithoutNotice, "room messages lost without a recovered: false notice");
    check(room.duplicated, "room messages delivered twice");
    check(room.refusedDelivered, "room messages delivered although their publish was refused");
    check(room.unknownDelivered, "room messages nobody sent");
    check(publishes.never, "publishes never settled");
    check(publishes.twice, "publishes settled twice");
    check(requests.never, "requests never settled");
    check(requests.twice, "requests settled twice");
    check(requests.effectsTwice, "request effects run twice");
    check(requests.okWithoutEffect, "requests resolved without their effect");
    check(doc.lostWithoutNotice, "document ops lost without a reset");
    check(doc.reappliedAfterReset, "document ops applied again after a reset wiped them");
    check(doc.wrongValue, "document keys with another value than their op's");
    if (!doc.converged) out.push(`${user}: the document did not converge to the server's copy`);
    check(pageErrors, "uncaught page errors");
    if (strict) {
      if (room.lostWithNotice > 0) out.push(`${user}: ${room.lostWithNotice} room messages lost (with a notice)`);
      if (room.notices > 0) out.push(`${user}: ${room.notices} recovered: false notices`);
      if (room.sessionsLost > 0) out.push(`${user}: ${room.sessionsLost} sessions lost`);
      if (doc.lostWithReset > 0) out.push(`${user}: ${doc.lostWithReset} document ops lost with a reset`);
    }
  }
  if (report.docExtraRevisions !== 0) {
    out.push(`the server's document is at revision ${report.docRev} with ${report.docKeys} keys (an op applied twice?)`);
  }
  for (const exit of report.unexpectedExits) out.push(`the server crashed: ${exit}`);
  if (!report.calm.settled) out.push("the clients did not settle after the chaos (publishes, requests, document)");
  if (!report.calm.fenced) out.push("the final server message did not reach every client");
  return out;
}

function table(title, columns, rows) {
  const cells = [[title, ...columns], ...rows.map((row) => row.map(String))];
  const widths = cells[0].map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells
    .map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "))
    .join("\n");
}

function withTotal(rows) {
  const total = rows[0].map((_, i) => (i === 0 ? "total" : rows.reduce((sum, row) => sum + Number(row[i] || 0), 0)));
  return [...rows, total];
}

/** The plain-text report: what the chaos did, then one table per kind of traffic. */
export function renderReport(report, chaos) {
  const yesNo = (value) => (value ? "yes" : "NO");
  const rooms = withTotal(
    report.rows.map(({ user, room }) => [
      user,
      room.sent,
      room.delivered,
      room.lostWithNotice,
      room.lostWithoutNotice.length,
      room.duplicated.length,
      `${room.unconfirmedDelivered}/${room.unconfirmed}`,
      room.notices,
      room.sessionsLost,
    ]),
  );
  // The unconfirmed column is "delivered/total": not a number to add up.
  rooms[rooms.length - 1][6] = "-";
  const publishes = withTotal(
    report.rows.map(({ user, publishes: p }) => [user, p.made, p.once, p.ok, p.sessionLost, p.other.length, p.twice.length, p.never.length]),
  );
  const requests = withTotal(
    report.rows.map(({ user, requests: r }) => [
      user,
      r.made,
      r.once,
      r.ok,
      r.sessionLost,
      r.other.length,
      r.twice.length,
      r.never.length,
      r.effectsRun,
      r.effectsTwice.length,
      r.okWithoutEffect.length,
    ]),
  );
  const docs = report.rows.map(({ user, doc: d }) => [
    user,
    d.made,
    d.applied,
    d.lostWithReset,
    d.lostWithoutNotice.length,
    d.rejected,
    d.reappliedAfterReset.length + d.wrongValue.length,
    yesNo(d.converged),
  ]);
  const others = report.rows.flatMap(({ user, publishes: p, requests: r }) => [
    ...p.other.map((o) => `${user} publish ${o}`),
    ...r.other.map((o) => `${user} request ${o}`),
  ]);
  return [
    "",
    `chaos (seed ${chaos.seed}): ${chaos.drops} drops, ${chaos.kills} SIGKILLs and ${chaos.terms} SIGTERMs with restarts (${chaos.incarnations} server incarnations); ` +
      `${report.serverSent} of ${report.serverPublishes} server publishes confirmed`,
    "",
    table(
      "room messages",
      ["sent", "delivered", "lost+notice", "lost,no notice", "duplicated", "unconfirmed deliv/all", "notices", "sessions lost"],
      rooms,
    ),
    "",
    table("publishes", ["made", "settled once", "resolved", "SessionLost", "other error", "settled twice", "never settled"], publishes),
    "",
    table(
      "requests",
      ["made", "settled once", "ok", "SessionLost", "other error", "settled twice", "never settled", "effects run", "effects twice", "ok, no effect"],
      requests,
    ),
    "",
    table("document ops", ["made", "applied", "lost+reset", "lost,no notice", "rejected", "applied twice", "converged"], docs),
    `server document: revision ${report.docRev}, ${report.docKeys} keys (each op writes its own key once: they must be equal)`,
    ...(others.length > 0 ? ["", "other errors:", ...others.map((o) => `  ${o}`)] : []),
    "",
    "sent: confirmed by the server (publish answered or resolved); lost+notice: not delivered, with a room state",
    "`recovered: false` after it was sent; unconfirmed: publishes whose outcome is unknown (connection cut",
    "mid-call, or SessionLost), delivered or not; lost+reset: a confirmed op wiped by a later document reset.",
  ].join("\n");
}
