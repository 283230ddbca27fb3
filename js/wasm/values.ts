// The objects `contract.d.ts` declares, built from the flat lists the WASM module pushes out
// (src/ffi/out.rs writes them, in the order read here).
import type { CloseReason, ConnectionState, Member, Metrics, ResocketError, RoomState } from "./types.js";
import { resocketError } from "./options.js";

/** Reads a pushed list in order. */
export class Reader {
  private _at = 0;
  constructor(private readonly _list: unknown[]) {}

  _next(): unknown {
    return this._list[this._at++];
  }

  _number() {
    return this._next() as number;
  }

  _text() {
    return this._next() as string;
  }

  _flag() {
    return this._next() === 1;
  }

  _more() {
    return this._at < this._list.length;
  }

  _error(): ResocketError {
    const [code, message] = ERRORS[this._number()]!;
    return resocketError(code ?? this._text(), message.replace(/[#$]/g, (c) => String(c == "#" ? this._number() : this._text())));
  }

  _state(): ConnectionState {
    const status = this._text();
    const n = () => this._number();
    switch (status) {
      case "open":
        return { status, url: n() };
      case "connecting":
        return { status, attempt: n(), url: n() };
      case "reconnecting":
        return { status, attempt: n(), delayMs: n(), retryAt: n(), code: n(), reason: this._text() };
      case "offline":
        return { status, code: n(), reason: this._text() };
      case "closed":
        return { status, reason: this._closeReason() };
      default:
        return { status: "idle" };
    }
  }

  private _closeReason(): CloseReason {
    const kind = this._text();
    if (kind == "maxAttempts") return { kind, attempts: this._number() };
    if (kind == "rejected") return { kind, code: this._number(), reason: this._text() };
    return { kind: kind as "client" | "unauthorized" };
  }

  _roomState(): RoomState {
    const status = this._text();
    if (status == "joined") return { status, recovered: this._flag() };
    if (status == "error") return { status, code: this._text(), message: this._text() };
    return { status: status as "joining" | "rejoining" | "left" };
  }

  _member(): Member {
    return { id: this._text(), user: (this._next() as string | undefined) ?? null, meta: this._next() ?? null };
  }

  _metrics(): Metrics {
    const metrics: Record<string, unknown> = {};
    for (const name of METRICS) metrics[name] = this._next() ?? null;
    return metrics as unknown as Metrics;
  }
}

// Each `ClientError` by its position in `ClientError::parts` (src/core/events.rs): its code
// (null: the server's, read first) and its message, where `#` stands for the next number and `$`
// for the next string, as `ClientError::code` and `message` make them; tests/ts_contract.rs
// checks the two agree.
const ERRORS: [string | null, string][] = [
  ["QueueFull", "outbound queue is full (# messages, # bytes)"],
  ["MessageTooLarge", "message of # bytes exceeds maxMessageBytes (#)"],
  ["Closed", "the client is closed; call reconnect() first"],
  ["MalformedFrame", "malformed frame from the server: $"],
  ["UnknownKind", 'unknown frame kind "$" from the server'],
  [null, "server error $: $"],
  ["ConnectTimeout", "connection did not open within # ms"],
  ["HeartbeatTimeout", "no pong within # ms; connection presumed dead"],
  ["Rejected", "server refused the connection (close #): $"],
  ["Timeout", "no reply within # ms"],
  ["Disconnected", "the connection dropped while the request was in flight"],
  ["SessionLost", "the server lost the session while the request was in flight"],
  ["Aborted", "the request was aborted"],
  ["DocNotOpen", 'document "$" is not open'],
  ["Unauthorized", "the server refused the token: $"],
  ["TokenUnavailable", "the token function failed: $"],
  ["NotSupported", "$ is not available in raw mode"],
  ["MalformedFrame", "malformed frame from the server: frame of # bytes exceeds maxInboundBytes (#)"],
];

// In `out::metrics`'s order.
const METRICS = [
  "messagesSent",
  "bytesSent",
  "messagesReceived",
  "bytesReceived",
  "reconnects",
  "errors",
  "dropped",
  "duplicates",
  "oversizedFrames",
  "unknownReplies",
  "writePauses",
  "unsentFrames",
  "unsentBytes",
  "bufferedBytes",
  "pendingRequests",
  "queueDepth",
  "queueBytes",
  "rttMs",
  "smoothedRttMs",
  "uptimeMs",
  "qualityScore",
  "quality",
] as const;
