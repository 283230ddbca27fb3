// The public types of the package: options, events, states and errors (the classes declare their
// own methods). Checked natively against the names the core uses (tests/ts_contract.rs).
/** Reconnection with exponential backoff; jitter is applied after capping. */
export interface ReconnectOptions {
  /** Delay before the first retry, before jitter. Default 500. */
  initialDelayMs?: number;
  /** Cap of the exponential delay. Default 30000. */
  maxDelayMs?: number;
  /** Growth per failed attempt, >= 1. Default 2. */
  factor?: number;
  /** Randomised fraction of each delay, 0..1: delay drawn from [d*(1-jitter), d]. Default 0.5. */
  jitter?: number;
  /** Consecutive failed attempts before giving up; null retries forever. Default null. */
  maxAttempts?: number | null;
  /** An open connection this old resets the attempt counter. Default 5000. */
  stableAfterMs?: number;
}

/** The offline queue: messages sent while not open wait here and flush in order on open. */
export interface QueueOptions {
  /** Default 1000. */
  maxMessages?: number;
  /** Default 1048576. */
  maxBytes?: number;
  /** "reject" throws QueueFull; "dropOldest" drops the oldest and emits "dropped". Default "reject". */
  overflow?: "reject" | "dropOldest";
}

export interface HeartbeatOptions {
  /** Ping interval while open; 0 disables. Default 15000. */
  intervalMs?: number;
  /** An unanswered ping this old declares the connection dead (closed with 4003, then a
   * reconnect). Default 10000. */
  timeoutMs?: number;
  /** Raw mode only: the keepalive frame sent every `intervalMs` (as `send` sends it, e.g.
   * `"ping"` or `{ op: "ping" }`). Without it, raw mode has no heartbeat. */
  ping?: unknown;
  /** Raw mode only, with `ping`: true for the received frame (as `message` delivers it) that
   * answers the ping. Without it, any received frame counts. It must not call the client. */
  pong?: (data: unknown) => boolean;
}

/** A WebSocket class: the global `WebSocket` or a compatible one, such as the `ws` package's
 * (`import { WebSocket } from "ws"`) in Node 20. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => object;

export interface ClientOptions {
  /** "resocket" (default): the resocket protocol. "raw": any WebSocket server (an exchange feed,
   * an existing backend): the socket's open event means open, frames are the app's own, and
   * reconnection, the offline queue, backpressure, heartbeat and metrics stay; `request`,
   * `join`, `doc` and `broadcast` throw (reject) `NotSupported`. */
  mode?: "resocket" | "raw";
  /** Raw mode: text frames arrive as parsed JSON ("json", default; one that is not JSON stays
   * a string) or as strings ("text"). Binary frames arrive as `ArrayBuffer`s. */
  receive?: "json" | "text";
  /** Raw mode: frames sent on every open, before anything queued, as `send` sends them
   * (subscriptions: a reconnect re-subscribes). Change them with `client.setSendOnOpen`. */
  sendOnOpen?: readonly unknown[];
  /** The WebSocket sub-protocols, passed to `new WebSocket(url, protocols)`. */
  protocols?: string | readonly string[];
  /** The class sockets are opened with. Default: the global `WebSocket` (browsers, Node 22+);
   * without either, `new Client` throws `NoWebSocket`. */
  WebSocket?: WebSocketClass;
  reconnect?: ReconnectOptions;
  queue?: QueueOptions;
  heartbeat?: HeartbeatOptions;
  /** From opening the socket to the server's welcome. Default 10000. */
  connectTimeoutMs?: number;
  /** Largest encoded message send() accepts. Default 1048576. */
  maxMessageBytes?: number;
  /** Largest frame read from the server, in UTF-8 bytes: a larger one is dropped unparsed,
   * counted in `oversizedFrames` and reported as a `MalformedFrame` error. Default 4194304. */
  maxInboundBytes?: number;
  /** Messages and requests go to the socket only while its send buffer (`bufferedAmount`)
   * holds less than this many bytes; the rest wait in the offline queue (`queue` bounds and
   * overflow policy apply), so a socket that dies loses at most about this much. Default
   * 1048576. */
  maxBufferedBytes?: number;
  /** Fixes the jitter seed (tests); random by default. */
  seed?: number;
  /** This client's id in shared-document ops until the server assigns one (welcome.origin);
   * none by default. */
  origin?: string;
  /** User id announced to the server (user-addressed notifications, presence). A server that
   * verifies tokens takes the user from the token instead. */
  user?: string;
  /** The credential (a JWT), sent in the `hello` frame, never in the URL. A string is sent as is
   * on every attempt: it cannot be refreshed, and a refusal stops the client (`closed` with
   * reason `unauthorized`). A function is called before every connection attempt and again
   * before the connection's token expires (refreshed in-band, without reconnecting); a refusal
   * is retried with backoff, asking it again. */
  token?: string | (() => string | Promise<string>);
  /** Start connecting at construction. Default true. */
  autoConnect?: boolean;
  /** Follow the page (browsers only): pause retries while `offline` and retry at once when
   * `online`, probe the socket with a ping when the page comes back from the background or
   * from being frozen, close it when the page enters the back-forward cache and reconnect on
   * restore. See the README's "Page lifecycle". Default true. */
  pageLifecycle?: boolean;
}

export interface RequestOptions {
  /** From the call to the reply, offline waiting included; null waits forever. Default 30000. */
  timeoutMs?: number | null;
  /** Rejects the request with an `Aborted` error when aborted. */
  signal?: AbortSignal;
  /** In flight when the connection drops: re-send after reconnect (the server runs it once), or reject with `Disconnected`. Default "retry". */
  onDisconnect?: "retry" | "fail";
}

export interface OpOptions {
  /** Compare-and-set: apply only if the key is at this revision (0 for absent); else `rejected`. */
  ifRev?: number;
}

export interface DocOptions {
  /** Save the confirmed state and pending ops in localStorage (true: key "resocket:doc:<name>"). */
  persist?: boolean | string;
}

/** What `doc.on(event, listener)` listeners receive, by event name. */
export interface DocEvents {
  change: { keys: string[] };
  confirmed: { cseq: number; rev: number };
  /** The op is gone from the view; re-apply it (`doc[op](key, value)`) to try again on the new state. */
  rejected: { cseq: number; key: string; op: "set" | "delete" | "merge"; value: unknown; error: ResocketError };
  synced: { rev: number };
  /**
   * The server's document has another history than the one this copy knew (its epoch changed:
   * the server restarted, or the document was created again). The confirmed state (and a
   * persisted copy) was replaced by the server's snapshot at `rev`; edits still pending are kept
   * and re-sent on top of it. Comes before that snapshot's `change` and `synced`.
   */
  reset: { rev: number };
  /** The server refused to sync the document (for example `Forbidden`): it stays open and unsynced, local edits wait, and it syncs again on the next connection. */
  error: ResocketError;
}

export interface JoinOptions {
  /** This client's presence metadata in the room. */
  meta?: unknown;
  /** Replays up to this many of the newest messages the server still holds (their `seq` and
   * `user` as published) before the live ones, on the first join only: a rejoin after a drop
   * recovers what it missed instead. The server caps it (its room history, and at most 1000).
   * Default 0: from now. */
  history?: number;
}

export type RoomState =
  | { status: "joining" }
  | { status: "joined"; recovered: boolean }
  | { status: "rejoining" }
  | { status: "left" }
  | { status: "error"; code: string; message: string };

/** A room member: one session of a user. */
export interface Member {
  id: string;
  user: string | null;
  meta: unknown;
}

export interface PresenceEvent {
  event: "join" | "leave" | "update";
  member: Member;
}

/** What `room.on(event, listener)` listeners receive, by event name. A `message` listener also
 * gets the message's sequence number and author: see `Room.on`. */
export interface RoomEvents {
  state: RoomState;
  presence: PresenceEvent;
  /** What members publish to the room: whatever the app sends, unchecked. */
  message: unknown;
}

export interface SessionEvent {
  id: string;
  /** The previous session was resumed (request de-duplication carried over). */
  resumed: boolean;
  /** A previous session existed but the server no longer knew it: resync app state. */
  lost: boolean;
}

export type CloseReason =
  | { kind: "client" }
  | { kind: "maxAttempts"; attempts: number }
  | { kind: "rejected"; code: number; reason: string }
  /** The server refused the static token (close 4401), or no token was given. */
  | { kind: "unauthorized" };

/** `url` is the index, in the client's URL list, of the URL the socket uses (0 with one URL). */
export type ConnectionState =
  | { status: "idle" }
  | { status: "connecting"; attempt: number; url: number }
  | { status: "open"; url: number }
  | { status: "reconnecting"; attempt: number; delayMs: number; retryAt: number; code: number; reason: string }
  /** The page reports no network: no attempt is made (none counts against `maxAttempts`) until
   * it is back online, then the retry comes at once. `code`/`reason`: how the last socket closed. */
  | { status: "offline"; code: number; reason: string }
  | { status: "closed"; reason: CloseReason };

export type ResocketErrorCode =
  | "QueueFull"
  | "MessageTooLarge"
  | "Closed"
  | "MalformedFrame"
  | "UnknownKind"
  | "ServerError"
  | "ConnectTimeout"
  | "HeartbeatTimeout"
  | "Rejected"
  | "InvalidOptions"
  | "NoWebSocket"
  | "Timeout"
  | "Disconnected"
  | "SessionLost"
  | "Aborted"
  | "NotFound"
  | "BadRequest"
  | "RateLimited"
  | "Internal"
  | "Forbidden"
  | "Conflict"
  | "DocNotOpen"
  | "Unauthorized"
  | "Unavailable"
  | "Expired"
  | "TokenUnavailable"
  | "NotSupported";

export interface ResocketError extends Error {
  name: "ResocketError";
  code: ResocketErrorCode;
}

export interface Metrics {
  /** Messages (`send`, `broadcast`) handed to a socket; requests and room publishes, which wait
   * for an answer, count in `pendingRequests` until they settle. */
  messagesSent: number;
  bytesSent: number;
  messagesReceived: number;
  bytesReceived: number;
  reconnects: number;
  errors: number;
  dropped: number;
  duplicates: number;
  /** Frames over `maxInboundBytes`, dropped without being parsed. */
  oversizedFrames: number;
  unknownReplies: number;
  /** Times messages and requests were held back because the socket's send buffer was over
   * `maxBufferedBytes` (one per pause). */
  writePauses: number;
  /** User frames and bytes that sockets still held in their send buffers (`bufferedAmount`)
   * when they died or the client closed them on a timeout: never confirmed sent. Messages
   * among them are lost, requests follow their `onDisconnect` policy, document ops are
   * re-sent. The frames are the newest ones sent that cover the bytes. */
  unsentFrames: number;
  unsentBytes: number;
  /** The open socket's `bufferedAmount` when last read; 0 when not open. */
  bufferedBytes: number;
  pendingRequests: number;
  queueDepth: number;
  queueBytes: number;
  rttMs: number | null;
  smoothedRttMs: number | null;
  uptimeMs: number;
  /** 0 when not open, else 1..100: lowered by slow round trips and drops in the last minute. */
  qualityScore: number;
  quality: "offline" | "poor" | "fair" | "good";
}

/** What `client.on(event, listener)` listeners receive, by event name. */
export interface ClientEvents {
  state: ConnectionState;
  message: unknown;
  error: ResocketError;
  dropped: { count: number; bytes: number };
  rtt: { rttMs: number; smoothedMs: number };
  session: SessionEvent;
  notification: unknown;
}

/** Unsubscribes the listener it was returned for; calling it again does nothing. */
export type Unsubscribe = () => void;

