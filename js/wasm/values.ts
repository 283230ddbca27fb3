// The objects `contract.d.ts` declares, built from the flat lists the WASM module pushes out
// (src/ffi/out.rs writes them, in the order read here).
import type { CloseReason, ConnectionState, Member, Metrics, ResocketError, RoomState } from "./types.js";
import { resocketError } from "./options.js";

/** Reads a pushed list in order. */
export class Reader {
  private at = 0;
  constructor(private readonly list: unknown[]) {}

  _next(): unknown {
    return this.list[this.at++];
  }

  _number = () => this._next() as number;
  _text = () => this._next() as string;
  _flag = () => this._next() === 1;
  _more = () => this.at < this.list.length;

  _error(): ResocketError {
    const [code, message] = ERRORS[this._number()]!;
    return resocketError(code ?? this._text(), message(this));
  }

  _state(): ConnectionState {
    const status = this._text();
    const n = this._number;
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

// Each `ClientError` by its position in `out::error` (src/ffi/out.rs): its code (null: the
// server's, read first) and its message from its fields, as `ClientError::code` and `message`
// (src/core/events.rs) make them; tests/ts_contract.rs checks the two agree.
const ERRORS: [string | null, (r: Reader) => string][] = [
  ["QueueFull", (r) => `outbound queue is full (${r._number()} messages, ${r._number()} bytes)`],
  ["MessageTooLarge", (r) => `message of ${r._number()} bytes exceeds maxMessageBytes (${r._number()})`],
  ["Closed", () => `the client is closed; call reconnect() first`],
  ["MalformedFrame", (r) => `malformed frame from the server: ${r._text()}`],
  ["UnknownKind", (r) => `unknown frame kind "${r._text()}" from the server`],
  [null, (r) => `server error ${r._text()}: ${r._text()}`],
  ["ConnectTimeout", (r) => `connection did not open within ${r._number()} ms`],
  ["HeartbeatTimeout", (r) => `no pong within ${r._number()} ms; connection presumed dead`],
  ["Rejected", (r) => `server refused the connection (close ${r._number()}): ${r._text()}`],
  ["Timeout", (r) => `no reply within ${r._number()} ms`],
  ["Disconnected", () => `the connection dropped while the request was in flight`],
  ["SessionLost", () => `the server lost the session while the request was in flight`],
  ["Aborted", () => `the request was aborted`],
  ["DocNotOpen", (r) => `document "${r._text()}" is not open`],
  ["Unauthorized", (r) => `the server refused the token: ${r._text()}`],
  ["TokenUnavailable", (r) => `the token function failed: ${r._text()}`],
  ["NotSupported", (r) => `${r._text()} is not available in raw mode`],
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
