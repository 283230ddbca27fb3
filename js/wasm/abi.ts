// The WASM module's plain ABI (src/ffi): its exports, typed, and the imports it calls. JS values
// the core holds are slots in `values`: the core owns each slot it was given and frees it
// (`v.free`); slot 0 is `undefined`. Rust hands values back by pushing them, in order, onto the
// output list (`o.*`), which `output` returns.
import { current, frameSize, utf8Length } from "./wire.js";

/** A client's driver in WASM memory. */
export type Ptr = number & { readonly driver: unique symbol };

/** The module's exports. Their names carry a `_`: the package's bundler shortens them to the
 * names `wasm-opt --minify-imports-and-exports` gave the exports (scripts/build-pkg.sh). */
export interface Exports {
  _memory: WebAssembly.Memory;
  _options(): number;
  _client_new(urlCount: number, raw: number, fetch: number, token: number, user: number, origin: number): Ptr;
  _client_free(client: Ptr): void;
  _client_raw_frames(client: Ptr, frames: number, ping: number): void;
  _client_connect(client: Ptr): void;
  _client_reconnect(client: Ptr): void;
  _client_close(client: Ptr): void;
  _client_pump(client: Ptr): number;
  _client_timeout(client: Ptr): void;
  _client_event(client: Ptr): number;
  _client_socket_open(client: Ptr): void;
  _client_socket_closed(client: Ptr, code: number, reason: number): void;
  _client_message(client: Ptr, read: number, seq: number, direct: number): number;
  _client_send(client: Ptr, frame: number): number;
  _client_request(client: Ptr, method: number, params: number, timeout: number, fail: number): number;
  _client_cancel(client: Ptr, id: number): void;
  _client_page(client: Ptr, code: number): void;
  _client_token(client: Ptr, id: number, ok: number, value: number): void;
  _client_state(client: Ptr): void;
  _client_session(client: Ptr): number;
  _client_metrics(client: Ptr): void;
  _room_join(client: Ptr, room: number, meta: number, history: number): void;
  _room_leave(client: Ptr, room: number): void;
  _room_publish(client: Ptr, room: number, data: number): number;
  _room_presence(client: Ptr, room: number, meta: number, local: number): void;
  _room_read(client: Ptr, room: number): number;
  _doc_open?(client: Ptr, doc: number, saved: number): void;
  _doc_close?(client: Ptr, doc: number): void;
  _doc_read?(client: Ptr, doc: number): number;
  _doc_get?(client: Ptr, doc: number, key: number): number;
  _doc_op?(client: Ptr, doc: number, op: number, key: number, value: number, ifRev: number): number;
  _doc_save?(client: Ptr, doc: number): number;
}

/** What the driver asks of the client whose call is running (see `Host` in client.ts). */
export interface Host {
  _open(url: number): void;
  _send(frame: unknown): number;
  _close(code: number, reason: string): void;
  _buffered(): number;
  _token(id: number): void;
}

const values: unknown[] = [undefined];
const freed: number[] = [];

/** A slot holding `value`, for the core to own (0 for undefined). */
export function put(value: unknown): number {
  if (value === undefined) return 0;
  const slot = freed.pop() ?? values.length;
  values[slot] = value;
  return slot;
}

/** The value of a slot the core handed over, freeing it. */
export function take(slot: number): unknown {
  const value = values[slot];
  free(slot);
  return value;
}

function free(slot: number) {
  if (slot) {
    values[slot] = undefined;
    freed.push(slot);
  }
}

// Made on the first push, so a call that pushes nothing (no event) allocates nothing.
let out: unknown[] | undefined;
const none: unknown[] = [];

/** Hands `new Client`'s numeric options to `client_new` (see `OPTIONS` in src/ffi/client.rs). */
export const writeOptions = (numbers: number[]) => new Float64Array(wasm._memory.buffer, wasm._options(), 16).set(numbers);

/** Runs `call` and returns what it pushed. */
export function output(call: () => unknown): unknown[] {
  out = undefined;
  call();
  return out ?? none;
}

/** The error `JSON.stringify` threw last (`v.stringify` answered 0). */
export let thrown: unknown;

/** The client whose call into WASM is running: the host of the driver's imports. */
export let host: Host | undefined;
export const setHost = (next: Host | undefined) => (host = next);

/** The module's exports, once `instantiate` ran. */
export let wasm: Exports;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const bytes = (ptr: number, len: number) => new Uint8Array(wasm._memory.buffer, ptr, len);
const text = (ptr: number, len: number) => decoder.decode(bytes(ptr, len));
const val = (slot: number) => values[slot];

// The imports, by module and name (`_<module>_<name>`): the package's bundle renames each to the
// one name `wasm-opt --minify-imports-and-exports-and-modules` gave it, all in one module, whose
// name `instantiate` reads from the module itself (scripts/build-pkg.sh).
const imports = {
  _v_dup: (slot: number) => put(values[slot]),
  _v_free: free,
  _v_null: () => put(null),
  _v_object: () => put({}),
  _v_array: () => put([]),
  _v_push: (list: number, item: number) => (val(list) as unknown[]).push(val(item)),
  _v_string: (ptr: number, len: number) => put(text(ptr, len)),
  _v_number: (n: number) => put(n),
  _v_boolean: (b: number) => put(b != 0),
  _v_kind(slot: number) {
    const v = val(slot);
    if (v === undefined) return 0;
    if (v === null) return 1;
    if (typeof v == "boolean") return 2 + +v;
    if (typeof v == "number") return 4;
    if (typeof v == "string") return 5;
    if (Array.isArray(v)) return 6;
    return typeof v == "object" ? 7 : 8;
  },
  _v_float: (slot: number) => val(slot) as number,
  _v_utf8_len: (slot: number) => utf8Length(val(slot) as string),
  _v_utf8_write: (slot: number, ptr: number, len: number) => encoder.encodeInto(val(slot) as string, bytes(ptr, len)).written,
  _v_get(object: number, ptr: number, len: number) {
    const target = val(object) as object;
    const key = text(ptr, len);
    return Object.hasOwn(target, key) ? put((target as Record<string, unknown>)[key]) : 0;
  },
  _v_set: (object: number, ptr: number, len: number, value: number) => setKey(val(object) as object, text(ptr, len), val(value)),
  _v_remove: (object: number, ptr: number, len: number) => delete (val(object) as Record<string, unknown>)[text(ptr, len)],
  _v_length: (slot: number) => (val(slot) as unknown[]).length,
  _v_keys: (object: number) => put(Object.keys(val(object) as object)),
  _v_item: (list: number, index: number) => put((val(list) as unknown[])[index]),
  _v_same: (a: number, b: number) => val(a) === val(b),
  _v_stringify(slot: number) {
    try {
      return put(JSON.stringify(val(slot)));
    } catch (error) {
      thrown = error;
      return 0;
    }
  },
  _v_parse(slot: number) {
    try {
      return put(JSON.parse(val(slot) as string));
    } catch {
      return put(null);
    }
  },
  _v_wire_size: (slot: number) => frameSize(val(slot)),
  _o_num: (n: number) => (out ??= []).push(n),
  _o_str: (ptr: number, len: number) => (out ??= []).push(text(ptr, len)),
  _o_val: (slot: number) => (out ??= []).push(val(slot)),
  _h_now: () => performance.now(),
  _h_open(url: number) {
    try {
      host!._open(url);
      return 0;
    } catch (error) {
      return put(String((error as Error)?.message ?? error));
    }
  },
  _h_send: (frame: number) => host!._send(val(frame)),
  // A client freed by the garbage collector has no host, and no socket left to close.
  _h_close: (code: number, ptr: number, len: number) => host?._close(code, text(ptr, len)),
  _h_buffered: () => host?._buffered() ?? 0,
  _h_token: (id: number) => host!._token(id),
  // In `Current`'s order (src/ffi/client.rs).
  _h_current: (what: number) =>
    put(what == 0 ? current._payload : what == 1 ? current._user : what == 2 ? current._room : current._frame),
};

/** Sets `key` as an own enumerable property even when it is "__proto__" (an assignment would
 * replace the prototype) or shadows an inherited setter: keys from data go through here. */
export function setKey(object: object, key: string, value: unknown) {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Instantiates the module from whatever `load` was given. */
export async function instantiate(source: Response | BufferSource | WebAssembly.Module | Promise<Response | BufferSource>) {
  const given = await source;
  const module = given instanceof WebAssembly.Module ? given : given instanceof Response ? await compile(given) : await WebAssembly.compile(given);
  const [first] = WebAssembly.Module.imports(module);
  const instance = await WebAssembly.instantiate(module, { [first?.module ?? ""]: imports });
  wasm = instance.exports as unknown as Exports;
}

async function compile(response: Response) {
  if (!response.ok) throw new Error(`failed to load the resocket module: HTTP ${response.status}`);
  // Streaming needs the right MIME type; a server that sends another still works, a bit slower.
  try {
    return await WebAssembly.compileStreaming(response.clone());
  } catch {
    return WebAssembly.compile(await response.arrayBuffer());
  }
}
