// The objects `contract.d.ts` declares, built from the flat lists the WASM module pushes out
// (src/ffi/out.rs writes them, in the order read here).
import type { CloseReason, ConnectionState, Member, Metrics, ResocketError, RoomState } from "./types.js";
import { resocketError } from "./options.js";

/** Reads a pushed list in order. */
export class Reader {
  private at = 0;
  constructor(private readonly list: unknown[]) {}

  next(): unknown {
    return this.list[this.at++];
  }

  number = () => this.next() as number;
  text = () => this.next() as string;
  flag = () => this.next() === 1;
  more = () => this.at < this.list.length;

  error(): ResocketError {
    return resocketError(this.text(), this.text());
  }

  state(): ConnectionState {
    const status = this.text();
    const n = this.number;
    switch (status) {
      case "open":
        return { status, url: n() };
      case "connecting":
        return { status, attempt: n(), url: n() };
      case "reconnecting":
        return { status, attempt: n(), delayMs: n(), retryAt: n(), code: n(), reason: this.text() };
      case "offline":
        return { status, code: n(), reason: this.text() };
      case "closed":
        return { status, reason: this.closeReason() };
      default:
        return { status: "idle" };
    }
  }

  private closeReason(): CloseReason {
    const kind = this.text();
    if (kind == "maxAttempts") return { kind, attempts: this.number() };
    if (kind == "rejected") return { kind, code: this.number(), reason: this.text() };
    return { kind: kind as "client" | "unauthorized" };
  }

  roomState(): RoomState {
    const status = this.text();
    if (status == "joined") return { status, recovered: this.flag() };
    if (status == "error") return { status, code: this.text(), message: this.text() };
    return { status: status as "joining" | "rejoining" | "left" };
  }

  member(): Member {
    return { id: this.text(), user: (this.next() as string | undefined) ?? null, meta: this.next() ?? null };
  }

  metrics(): Metrics {
    const metrics: Record<string, unknown> = {};
    for (const name of METRICS) metrics[name] = this.next() ?? null;
    return metrics as unknown as Metrics;
  }
}

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
