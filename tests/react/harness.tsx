// Hook test harness: renders resocket/react hooks inside real React roots (StrictMode on demand)
// and records what each hook returned at every commit, so tests driving the page from Node can
// read hook state and call the functions hooks return, as components would.
import { Component, StrictMode, useEffect, useLayoutEffect, useState, type ReactNode } from "react";
import { createRoot, type Root } from "react-dom/client";
import { Client, load, type ClientOptions, type ResocketErrorCode, type Room } from "resocket";
import * as docs from "resocket/docs";
import type { SyncedDoc } from "resocket/docs";
import * as hooks from "resocket/react";

interface Probe {
  id: string;
  hook: keyof typeof named;
  args?: unknown[];
}

interface Spec {
  url: string | string[];
  options?: ClientOptions;
  strict?: boolean;
  /** The provider's client comes from `resocket/docs` (for `useSyncedDoc`). */
  docs?: boolean;
  probes: Probe[];
}

/** `resocket/docs` for providers, its module served as docs_bg.wasm: bundled here, both entries'
 * glue would look for resocket_bg.wasm next to the bundle (see build-hook-tests.sh). */
const docsModule: hooks.ClientModule = { Client: docs.Client, load: () => docs.load(new URL("docs_bg.wasm", import.meta.url)) };

interface Observed {
  value: unknown;
  /** Every committed value, oldest first. */
  history: unknown[];
  commits: number;
}

const observed: Record<string, Observed> = {};

/** Reducers for `useRoom` by name (functions cannot cross from Node into the page). */
const reducers: Record<string, (state: unknown, data: unknown, seq: number) => unknown> = {
  last: (_state, data) => data,
};

type RoomArgs = { reduce?: string } & Omit<hooks.RoomOptions, "reduce">;

/** Every hook under test, callable by name with JSON arguments. */
const named = {
  resocket: hooks.useResocket,
  connection: hooks.useConnection,
  websocket: hooks.useWebSocket,
  quality: hooks.useConnectionQuality,
  room: (name: string, { reduce, ...options }: RoomArgs = {}) =>
    hooks.useRoom<unknown, unknown>(name, { ...options, ...(reduce ? { reduce: reducers[reduce] } : {}) }),
  presence: hooks.usePresence,
  chat: hooks.useChat,
  notifications: hooks.useNotifications,
  request: hooks.useRequest,
  doc: hooks.useSyncedDoc,
  /** useSyncedDoc with an op made in a mount effect, before the document is open. */
  docWrite: (name: string, key: string, value: unknown) => {
    const doc = hooks.useSyncedDoc(name);
    useEffect(() => doc.set(key, value), []);
    return doc;
  },
  /** useSyncedDoc whose child component writes to it from its own mount effect. */
  docWithEditor: (name: string, key: string, value: unknown) => ({ ...hooks.useSyncedDoc(name), editor: { key, value } }),
  /** useRoom publishing in a mount effect, before the room is joined. */
  roomWrite: (name: string, data: unknown) => {
    const room = hooks.useRoom(name);
    useEffect(() => void room.publish(data), []);
    return room;
  },
  /** Raw mode: a component's own client (useWebSocket with a URL) and values selected from
   * its frames (useMessage with a selector and that client). */
  rawTicker: (url: string, options: ClientOptions) => {
    const socket = hooks.useWebSocket(url, options);
    const price = hooks.useMessage((m) => (isTrade(m) ? m.p : undefined), socket.client);
    const lastId = hooks.useMessage((m) => (isTrade(m) ? m.t : undefined), socket.client);
    return { ...socket, price, lastId };
  },
  /** useMessage with a selector on the provider's client: one field of each message. */
  select: (field: string) => hooks.useMessage((m) => (m as Record<string, unknown> | null)?.[field]),
  /** useMessage whose handler closes over render state (`tag`), to catch stale handlers. */
  message: (type: string) => {
    const [tag, setTag] = useState(0);
    const [log] = useState<{ tag: number; data: unknown }[]>([]);
    hooks.useMessage(type, (data) => log.push({ tag, data }));
    return { log, tag, setTag };
  },
};

interface Trade {
  e: "trade";
  t: number;
  p: string;
}
const isTrade = (m: unknown): m is Trade => (m as Trade | null)?.e === "trade";

/** A child writing to its parent's document in its mount effect (effects run child first). */
function Editor({ doc }: { doc: ReturnType<typeof named.docWithEditor> }) {
  useEffect(() => doc.set(doc.editor.key, doc.editor.value), []);
  return null;
}

function ProbeView({ id, hook, args = [] }: Probe) {
  const value = (named[hook] as (...a: unknown[]) => unknown)(...args);
  useLayoutEffect(() => {
    const entry = (observed[id] ??= { value: undefined, history: [], commits: 0 });
    entry.value = value;
    entry.history.push(value);
    entry.commits++;
  });
  return hook == "docWithEditor" ? <Editor doc={value as ReturnType<typeof named.docWithEditor>} /> : null;
}

/** Records what a provider throws while rendering (e.g. a client it cannot create). */
class Boundary extends Component<{ id: string; children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  override componentDidCatch(error: unknown) {
    const { name, code, message } = error as { name: string; code?: string; message: string };
    observed[this.props.id] = { value: { name, code, message }, history: [], commits: 1 };
  }
  override render() {
    return this.state.failed ? null : this.props.children;
  }
}

const roots = new Map<string, Root>();

function render(rootId: string, { url, options, strict, docs, probes }: Spec) {
  let root = roots.get(rootId);
  if (!root) {
    const element = document.createElement("div");
    document.body.append(element);
    root = createRoot(element);
    roots.set(rootId, root);
  }
  const tree = (
    <Boundary id={`${rootId}.error`}>
      <hooks.ResocketProvider url={url} {...(options ? { options } : {})} {...(docs ? { module: docsModule } : {})}>
        {probes.map((probe) => (
          <ProbeView key={probe.id} {...probe} />
        ))}
      </hooks.ResocketProvider>
    </Boundary>
  );
  root.render(strict ? <StrictMode>{tree}</StrictMode> : tree);
}

function unmount(rootId: string) {
  roots.get(rootId)?.unmount();
  roots.delete(rootId);
}

/** A plain client (no React) that joins `room` and records its presence events and messages. */
async function observe(url: string, room: string) {
  await load();
  const client = new Client(url, { user: "observer" });
  const presence: unknown[] = [];
  const messages: unknown[] = [];
  const handle: Room = client.join(room, (data) => messages.push(data));
  handle.on("presence", (event) => presence.push(event));
  return { client, room: handle, presence, messages };
}

/** Never called: compile-time checks of the package's event typing (tsc checks this file in
 * strict mode). Each event name types its listener's value, so typos do not compile. */
function typeChecks(client: Client, room: Room, doc: SyncedDoc, docsClient: docs.Client) {
  // @ts-expect-error: documents are in resocket/docs
  client.doc("board");
  docsClient.doc("board").on("synced", (e) => e.rev.toFixed());
  // The client with documents serves wherever a client is expected (hooks, `useMessage`).
  client = docsClient;
  // @ts-expect-error: a presence event has `member.user`
  room.on("presence", (e) => e.membr.usr);
  room.on("presence", (e) => e.member.user);
  room.on("message", (data: { text: string }, seq) => data.text + seq.toFixed());
  // @ts-expect-error: room message payloads are `unknown` unless typed
  client.join("room", (data) => data.text);
  // @ts-expect-error: rejected ops carry `key`, change events `keys`
  doc.on("change", (e) => e.key);
  doc.on("rejected", (e) => e.error.code satisfies ResocketErrorCode);
  // @ts-expect-error: not a client event
  client.on("presence", () => {});
  client.on("rtt", (e) => e.smoothedMs.toFixed());
}

const observers: Record<string, Awaited<ReturnType<typeof observe>>> = {};

Object.assign(window, {
  harness: {
    render,
    unmount,
    observed,
    observers,
    async observe(id: string, url: string, room: string) {
      observers[id] = await observe(url, room);
    },
  },
});
