// Room hooks: typed messages, rooms (messages, reduced state, members), presence and chat.
import { useContext, useEffect, useMemo, useState } from "./react.js";
import type { Client, Member, Room, RoomState } from "../index.js";
import { Context, needProvider, useResocket } from "./connection.js";
import { HandleView, useHandle, type Held } from "./shared.js";
import { useLatest, useStore } from "./store.js";
import { useConnection } from "./status.js";

/** Calls `handler(data, seq)` for each message whose `type` field is `type` (latest handler). */
export function useMessage<T = unknown>(type: string, handler: (data: T, seq?: number) => void): void;
/** The latest value `selector` picked from a message (it returns undefined to skip one), or
 * undefined before the first; re-renders only when that value changes (`Object.is`: return
 * primitives or kept objects). Reads the provider's client, or `client` when given (e.g.
 * `useWebSocket(url).client`, null until loaded). Sees the client's `message` events (every
 * frame in raw mode; not room messages). */
export function useMessage<T>(selector: (message: unknown) => T | undefined, client?: Client | null): T | undefined;
export function useMessage(
  first: string | ((message: unknown) => unknown),
  second?: Client | null | ((data: unknown, seq?: number) => void),
): unknown {
  const select = typeof first == "function";
  const given = select ? (second as Client | null | undefined) : undefined;
  const outer = useContext(Context);
  const connection = given === undefined ? needProvider(outer) : null;
  const latest = useLatest((select ? first : second) as (data: unknown, seq?: number) => unknown);
  const [value, setValue] = useState<unknown>();
  useEffect(() => {
    const listen = (client: Client) =>
      select
        ? client.on("message", (message) => {
            const picked = latest.current(message);
            if (picked !== undefined) setValue(() => picked);
          })
        : client.onMessage(first, (data, seq) => latest.current(data, seq));
    return given ? listen(given) : connection?.use(listen);
  }, [connection, given, select || first]);
  return value;
}


export interface RoomMessage<T = unknown> {
  seq: number;
  data: T;
}

export interface RoomOptions<T = unknown, S = undefined> {
  /** Messages kept in `messages`, newest last. Default 100; 0 keeps none. */
  limit?: number;
  /** Folds every message into `state` (e.g. the latest price per symbol). `user` is the
   * publisher's user id as the server stamped it (undefined for server-fed messages). */
  reduce?: (state: S, data: T, seq: number, user?: string) => S;
  /** The initial `state` for `reduce`. */
  initial?: S;
  /** This client's presence metadata (an object), merged with what other hooks of the room set. */
  meta?: unknown;
  /** Replays up to this many of the newest messages the server holds when the room is joined
   * (`JoinOptions.history`; read by the hook that joins the room first). Default 0. */
  history?: number;
}

export interface RoomView<T, S> {
  messages: RoomMessage<T>[];
  state: S;
  status: RoomState;
  /** False after a rejoin that could not replay every missed message: resync your state. */
  recovered: boolean;
  /** The members (sessions), this client included once joined. */
  members: Member[];
  /** True while `members` is the list from before a drop, kept while the room rejoins; the
   * rejoin replaces it (members that left meanwhile disappear) and `stale` turns false. */
  stale: boolean;
}

/** The view behind `useRoom`, with the room-keyed state `useChat` builds on. `limit`,
 * `initial` and `reduce` are read when the room (or provider) changes. */
function useRoomView<T, S>(name: string, options: RoomOptions<T, S>) {
  const connection = useResocket();
  const latest = useLatest(options);
  const view = useMemo(() => {
    const { limit = 100, initial, reduce } = options;
    let messages: RoomMessage<T>[] = [];
    let state = initial as S;
    const view: HandleView<Room, RoomView<T, S>> & {
      _receive(data: unknown, seq: number, user?: string): void;
      _update(change: (state: S) => S): void;
      _publish(data: T): Promise<number>;
      _setPresence(patch: unknown): void;
    } = Object.assign(
      new HandleView<Room, RoomView<T, S>>(() => {
        const room = view._handle;
        const status = room?.state ?? { status: "joining" };
        return { messages: messages.slice(), state, status, recovered: status.status != "joined" || status.recovered, members: room?.members() ?? [], stale: room?.membersStale ?? false };
      }),
      {
        _receive(data: unknown, seq: number, user?: string) {
          if (limit) messages.push({ seq, data: data as T }) > limit && messages.shift();
          if (reduce) state = reduce(state, data as T, seq, user);
          // Presence-only views do not re-render for messages.
          if (limit || reduce) view.touch();
        },
        _update(change: (state: S) => S) {
          state = change(state);
          view.touch();
        },
        /** Publishes to the room: every member, this client included, receives it once with a
         * `seq`, which this resolves with once the server acknowledges it (`Room.publish`). */
        _publish: (data: T) => new Promise<number>((resolve, reject) => view._with((room) => room.publish(data).then(resolve, reject))),
        /** Merges `patch` into this client's presence metadata (other members get an update). */
        _setPresence: (patch: unknown) => view._with((room) => presence(room, view._held, patch)),
      },
    );
    return view;
  }, [connection, name]);
  useHandle(connection, "@" + name, view, (client, held, first) => {
    const { meta, history } = latest.current;
    // No `history` rather than 0: the join frame carries none. Every handle of the room hears
    // its messages: a remounted hook's previous handle (released a tick later) is not heard.
    const room = client.join(name, (data, seq, user) => view._handle == room && view._receive(data, seq, user), { meta, history: history || undefined });
    room.on("state", view.touch);
    room.on("presence", view.touch);
    if (first) held._meta = meta;
    // A room another hook joined first: add this hook's metadata to it.
    else if (meta !== undefined && meta !== held._meta) presence(room, held, meta);
    return room;
  });
  return [useStore(view), view] as const;
}

/** Merges `patch` into this client's presence metadata in `room` (an object, merged shallowly). */
function presence(room: Room, held: Held, patch: unknown) {
  const meta = { ...(held._meta as object), ...(patch as object) };
  room.setPresence(meta);
  held._meta = meta;
}

/** Joins `name` while mounted (shared and ref-counted per provider); bursts render once per frame. */
export function useRoom<T = unknown, S = undefined>(name: string, options: RoomOptions<T, S> = {}) {
  const [snapshot, view] = useRoomView(name, options);
  return { ...snapshot, publish: view._publish, setPresence: view._setPresence };
}

/** The room's members (sessions) and this client's own entry; joins while mounted. */
export function usePresence(room: string, options: { meta?: unknown } = {}) {
  const [{ members, status, stale }, view] = useRoomView(room, { ...options, limit: 0 });
  const self = useConnection().client?.session;
  return {
    members,
    stale,
    self: members.find((m) => m.id == self) ?? null,
    others: members.filter((m) => m.id != self),
    status,
    setPresence: view._setPresence,
  };
}

/** A chat message as `useChat` shows it. On the wire (what `send` publishes, and what a backend
 * publishes with `resocket/server`) it is the room payload `{type: "chat", id, text, at}` (`at`
 * in ms since the epoch; a `user` in it is ignored): `useChat` counts any other payload in `ignored` and shows nothing. */
export interface ChatMessage {
  /** Unique in the room: matches an own message waiting for delivery with its echo. */
  id: string;
  /** The author: the user id the server stamped on the message, never one from the payload;
   * null for an anonymous publisher. A message still pending shows this client's `user`. */
  user: string | null;
  text: string;
  at: number;
  /** The room sequence number; absent while the message waits to be delivered. */
  seq?: number;
  /** Sent by this client and not delivered yet: neither acknowledged nor echoed (e.g. typed while offline). */
  pending?: boolean;
  /** Sent by this client and failed for good: the error code (`SessionLost`, `Forbidden`, ...). */
  error?: string;
}

export interface ChatOptions {
  /** Messages kept. Default 200. */
  maxMessages?: number;
  /** A typing indicator clears this long after the last keystroke. Default 3000. */
  typingTimeout?: number;
  /** This client's presence metadata. */
  meta?: unknown;
  /** Messages the server still holds shown on opening (the newest, up to this many; the
   * server's namespace config bounds them). Default 50; 0 starts from now. */
  history?: number;
}

interface ChatState {
  /** Delivered messages by `seq`, then own messages not delivered yet (no `seq`). */
  messages: ChatMessage[];
  fromOthers: number;
  read: number;
  ignored: number;
}

type ChatView = ReturnType<typeof useRoomView<ChatMessage & { type?: string }, ChatState>>[1] & {
  _chat?: ReturnType<typeof chatActions>;
};

/** `message` (with its `seq`) was delivered: it takes its place once, and leaves the own messages
 * waiting (its echo or its acknowledgement, whichever comes first, places it). */
function delivered(s: ChatState, message: ChatMessage, maxMessages: number, fromOthers = 0): ChatState {
  if (s.messages.some((m) => m.seq == message.seq)) return s;
  const messages = [...s.messages.filter((m) => m.seq != null || m.id != message.id), message];
  // Stable: waiting messages (no seq) stay last, in the order they were sent.
  messages.sort((a, b) => (a.seq ?? 9e15) - (b.seq ?? 9e15));
  return { ...s, messages: messages.slice(-maxMessages), fromOthers: s.fromOthers + fromOthers };
}

function chatActions(view: ChatView, user: string | null, typingTimeout: number, maxMessages: number) {
  let typing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopTyping = (view._beforeDetach = () => {
    clearTimeout(timer);
    if (typing) view._setPresence({ typing: (typing = false) });
  });
  return {
    /** Publishes a message (queued while offline), shown at once with `pending: true` until
     * it is delivered (its acknowledgement or its echo, whichever comes first, places it by
     * `seq`), or with `error` if it fails. */
    send(text: string) {
      const message = { id: Math.random().toString(36).slice(2), user, text, at: Date.now() };
      view._update((s) => ({ ...s, messages: [...s.messages, { ...message, pending: true }] }));
      view._publish({ type: "chat", ...message }).then(
        (seq) => view._update((s) => delivered(s, { ...message, seq }, maxMessages)),
        // Its echo may have arrived (e.g. before the session was lost): then it did take effect.
        (error: { code?: string }) =>
          view._update((s) => ({ ...s, messages: s.messages.map((m) => (m.seq == null && m.id == message.id ? { ...message, pending: false, error: error.code ?? "Error" } : m)) })),
      );
      stopTyping();
    },
    /** Call on each keystroke: shows this user as typing until `typingTimeout` after the last. */
    typed() {
      if (!typing) view._setPresence({ typing: (typing = true) });
      clearTimeout(timer);
      timer = setTimeout(stopTyping, typingTimeout);
    },
    /** Counts every message received so far as read. */
    markRead: () => view._update((s) => ({ ...s, read: s.fromOthers })),
  };
}

/** A chat room: messages (own ones shown at once as pending), typing indicators, unread count.
 * Its state belongs to the room: switching rooms starts afresh (and options are read then). */
export function useChat(room: string, { maxMessages = 200, typingTimeout = 3000, meta, history = 50 }: ChatOptions = {}) {
  const connection = useResocket();
  const [chat, view] = useRoomView<ChatMessage & { type?: string }, ChatState>(room, {
    limit: 0,
    meta,
    history,
    initial: { messages: [], fromOthers: 0, read: 0, ignored: 0 },
    reduce: (s, data, seq, user) => {
      // Counted, so a message that does not show is not a mystery (see `ignored`).
      if (data?.type != "chat") return { ...s, ignored: s.ignored + 1 };
      const { type: _, ...message } = data;
      // The author is the one the server stamped: a payload's `user` is whatever its sender wrote.
      // Own messages (also from an earlier page, replayed as history) are never unread.
      return delivered(s, { ...message, seq, user: user ?? null }, maxMessages, +(user == null || user != connection.options.user));
    },
  });
  // Made once per room view (React may call a memo function twice and keep the first result).
  const actions = useMemo(() => ((view as ChatView)._chat ??= chatActions(view, connection.options.user ?? null, typingTimeout, maxMessages)), [view]);
  const self = connection.client?.session;
  const {
    state: { messages, fromOthers, read, ignored },
    ...joined
  } = chat;
  return {
    // status, recovered, members and stale (the last known members, kept while the room rejoins)
    ...joined,
    messages,
    /** Other members typing now. */
    typing: joined.members.filter((m) => m.id != self && (m.meta as { typing?: boolean } | null)?.typing),
    /** Messages from others since the last `markRead()`. */
    unread: fromOthers - read,
    /** Room messages received that are not chat messages (`{type: "chat", id, text, at}`), so
     * not shown: read those with `useRoom` or `useMessage`. */
    ignored,
    ...actions,
  };
}
