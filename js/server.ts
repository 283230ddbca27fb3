// resocket/server: a small, typed client of the resocket server API (docs/SERVER_API.md) for
// app backends and jobs (Node 18+, Deno, Bun, workers: anything with fetch). Never ship it to a
// browser: it holds the API key.
//
//   import { ResocketServer } from "resocket/server";
//   const server = new ResocketServer({ url: "http://127.0.0.1:8080", apiKey: process.env.RESOCKET_API_KEY! });
//   const { seq } = await server.publish("chat:lobby", { text: "deployed" });
//   await server.notify("alice", { type: "fill", orderId: "o-1" });

/** The `fetch` the helper calls (the global one by default). */
export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface ResocketServerOptions {
  /** The server's HTTP base URL (the main listener, or `--api-addr`), e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The server API key (`--api-key-file` / `RESOCKET_API_KEY`), sent as `Authorization: Bearer`. */
  apiKey: string;
  /** Another `fetch` (tests, proxies, retries); the global one by default. */
  fetch?: FetchFn;
  /** Abort a call after this many milliseconds (default 10000; 0: no timeout). */
  timeoutMs?: number;
}

/** The server's error codes, plus `network` (no HTTP answer) and `bad_response` (not the API's JSON). */
export type ApiErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "too_large"
  | "rate_limited"
  | "internal"
  | "unavailable"
  | "network"
  | "bad_response";

/** A failed API call: the server's typed error, or `network` / `bad_response` (status 0 or the HTTP status). */
export class ResocketApiError extends Error {
  readonly code: ApiErrorCode;
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;

  constructor(code: ApiErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ResocketApiError";
    this.code = code;
    this.status = status;
  }
}

export interface Published {
  /** The message's sequence number in the room (what members receive it with). */
  seq: number;
  /** Members it was delivered to. */
  members: number;
}

export interface Delivered {
  /** Connections that received the notification. */
  delivered: number;
}

export interface Disconnected {
  /** Connections closed. */
  disconnected: number;
}

/** A room member as clients see it: a session, its user (absent when anonymous) and metadata. */
export interface Member<M = unknown> {
  id: string;
  user?: string;
  meta?: M;
}

/** A room message kept in history. */
export interface HistoryMessage<P = unknown> {
  seq: number;
  payload: P;
  /** The publisher's user, when the server stamped one. */
  user?: string;
}

export interface DocEntry<V = unknown> {
  value: V;
  /** The revision that last wrote the key. */
  rev: number;
}

/** A document: its revision (0 for one never written) and every key. */
export interface DocSnapshot<V = unknown> {
  doc: string;
  rev: number;
  entries: Record<string, DocEntry<V>>;
}

export interface Revision {
  /** The document's revision after the op. */
  rev: number;
}

export interface KeyOptions {
  /** Compare-and-set: apply only if the key is at this revision (0: absent); `conflict` otherwise. */
  ifRev?: number;
}

const API_PREFIX = "/api/v1";
const DEFAULT_TIMEOUT_MS = 10_000;
const CODES: ReadonlySet<string> = new Set<ApiErrorCode>([
  "bad_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "too_large",
  "rate_limited",
  "internal",
  "unavailable",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `{error: {code, message}}` as a ResocketApiError, or null if the body is not that. */
function apiError(body: unknown, status: number): ResocketApiError | null {
  if (!isRecord(body) || !isRecord(body.error)) return null;
  const { code, message } = body.error;
  if (typeof code !== "string" || !CODES.has(code)) return null;
  const text = typeof message === "string" ? message : `HTTP ${status}`;
  return new ResocketApiError(code as ApiErrorCode, status, text);
}

const seg = (part: string): string => encodeURIComponent(part);

export class ResocketServer {
  private readonly base: string;
  private readonly apiKey: string;
  private readonly fetchFn: FetchFn;
  private readonly timeoutMs: number;

  constructor(options: ResocketServerOptions) {
    if (!options.url) throw new TypeError("ResocketServer: url is required");
    if (!options.apiKey) throw new TypeError("ResocketServer: apiKey is required");
    this.base = options.url.replace(/\/+$/, "") + API_PREFIX;
    this.apiKey = options.apiKey;
    const fetchFn = options.fetch ?? (globalThis.fetch as FetchFn | undefined);
    if (!fetchFn) throw new TypeError("ResocketServer: no fetch available; pass options.fetch");
    this.fetchFn = fetchFn;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Publishes `payload` to `room` as the server: members get it with the returned seq, and history keeps it. */
  publish(room: string, payload: unknown): Promise<Published> {
    return this.call<Published>("POST", `/rooms/${seg(room)}/publish`, { payload });
  }

  /** Sends a `notify` with `payload` to every connection of `user`. */
  notify(user: string, payload: unknown): Promise<Delivered> {
    return this.call<Delivered>("POST", `/users/${seg(user)}/notify`, { payload });
  }

  /** Sends a `notify` with `payload` to every connection. */
  notifyAll(payload: unknown): Promise<Delivered> {
    return this.call<Delivered>("POST", "/notify", { payload });
  }

  /** Closes every connection of `user` (close code 4410, "disconnected by the server"). */
  disconnect(user: string): Promise<Disconnected> {
    return this.call<Disconnected>("POST", `/users/${seg(user)}/disconnect`);
  }

  /** The members of `room`. */
  async presence<M = unknown>(room: string): Promise<Member<M>[]> {
    const body = await this.call<{ room: string; members: Member<M>[] }>("GET", `/rooms/${seg(room)}/presence`);
    return body.members;
  }

  /** The last `limit` messages of `room` (default 100), oldest first. */
  async history<P = unknown>(room: string, options: { limit?: number } = {}): Promise<HistoryMessage<P>[]> {
    const query = options.limit === undefined ? "" : `?limit=${encodeURIComponent(String(options.limit))}`;
    const body = await this.call<{ room: string; messages: HistoryMessage<P>[] }>(
      "GET",
      `/rooms/${seg(room)}/history${query}`,
    );
    return body.messages;
  }

  /** A document's revision and keys. */
  doc<V = unknown>(name: string): Promise<DocSnapshot<V>> {
    return this.call<DocSnapshot<V>>("GET", `/docs/${seg(name)}`);
  }

  /** Sets `key` of document `doc` as a server-side op, broadcast to its subscribers. */
  setKey(doc: string, key: string, value: unknown, options: KeyOptions = {}): Promise<Revision> {
    const body: { value: unknown; ifRev?: number } = { value };
    if (options.ifRev !== undefined) body.ifRev = options.ifRev;
    return this.call<Revision>("PUT", `/docs/${seg(doc)}/keys/${seg(key)}`, body);
  }

  /** Deletes `key` of document `doc` as a server-side op, broadcast to its subscribers. */
  deleteKey(doc: string, key: string, options: KeyOptions = {}): Promise<Revision> {
    const query = options.ifRev === undefined ? "" : `?ifRev=${encodeURIComponent(String(options.ifRev))}`;
    return this.call<Revision>("DELETE", `/docs/${seg(doc)}/keys/${seg(key)}${query}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.apiKey}`,
      accept: "application/json",
    };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (this.timeoutMs > 0) init.signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await this.fetchFn(this.base + path, init);
    } catch (cause) {
      const what = cause instanceof Error ? cause.message : String(cause);
      throw new ResocketApiError("network", 0, `${method} ${path}: ${what}`, { cause });
    }
    const text = await response.text().catch(() => "");
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      throw (
        apiError(parsed, response.status) ??
        new ResocketApiError("bad_response", response.status, `${method} ${path}: HTTP ${response.status}`)
      );
    }
    if (parsed === undefined) {
      throw new ResocketApiError("bad_response", response.status, `${method} ${path}: the answer is not JSON`);
    }
    return parsed as T;
  }
}
