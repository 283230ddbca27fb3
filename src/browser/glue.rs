//! Bindings to the JS helpers in `glue.js`.

use alloc::string::String;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    #[derive(Clone)]
    pub type Emitter;

    #[wasm_bindgen(constructor)]
    pub fn new() -> Emitter;

    /// `owner` holds the subscription until it ends (see `end_all`).
    #[wasm_bindgen(method)]
    pub fn on(
        this: &Emitter,
        key: &str,
        listener: &js_sys::Function,
        owner: Option<&js_sys::Set>,
    ) -> js_sys::Function;

    /// Ends every subscription `owner` still holds.
    #[wasm_bindgen(js_name = endAll)]
    pub fn end_all(owner: &js_sys::Set);

    #[wasm_bindgen(method)]
    pub fn emit(this: &Emitter, key: &str, value: &JsValue);

    /// `key` is a JS string so the hot path does not re-create it from Rust text every time.
    #[wasm_bindgen(method, js_name = emitMessage)]
    pub fn emit_message(
        this: &Emitter,
        key: &JsValue,
        payload: &JsValue,
        seq: Option<f64>,
        user: Option<&JsValue>,
    );

    #[wasm_bindgen(js_name = utf8Length)]
    pub fn utf8_length(text: &JsValue) -> u32;

    /// Attaches `ws`'s open, message and close handlers, which call `handler` with two numbers
    /// (see `listen` in glue.js and `SocketHandle::open`). Each frame is read in JS with
    /// `readFrame` (or `readRaw` with `raw`, raw mode's options); `limit`: `max_inbound_bytes`.
    pub fn listen(ws: &web_sys::WebSocket, limit: f64, raw: &JsValue, handler: &js_sys::Function);

    /// The room of the room message glue.js read last.
    #[wasm_bindgen(js_name = currentRoom)]
    pub fn current_room() -> String;

    /// The author of the room message `readFrame` read last, `undefined` if none.
    #[wasm_bindgen(js_name = currentUser)]
    pub fn current_user() -> JsValue;

    /// Delivers the message `readFrame` read last to `key`'s listeners, as `emit_message`
    /// would, in one call: the payload, seq and author never cross into WASM.
    #[wasm_bindgen(js_name = emitCurrent)]
    pub fn emit_current(emitter: &Emitter, key: &JsValue);

    /// Sets own property `key` (even `__proto__`) of `object` with `Object.defineProperty`.
    #[wasm_bindgen(js_name = setKey)]
    pub fn set_key(object: &JsValue, key: &str, value: &JsValue);

    /// `object[key]` if `key` is an own property, else `undefined`.
    #[wasm_bindgen(js_name = ownValue)]
    pub fn own_value(object: &JsValue, key: &str) -> JsValue;

    /// The frame `readFrame` (or `readRaw`) read last; after a close, its reason.
    #[wasm_bindgen(js_name = currentFrame)]
    pub fn current_frame() -> JsValue;

    /// `new Client`'s arguments read and checked (see `clientOptions` in glue.js): fills `out`
    /// with the numeric options and returns the rest (`js_values::client_options` reads both);
    /// the error is the `InvalidOptions` (or `NoWebSocket`) error to throw.
    #[wasm_bindgen(js_name = clientOptions, catch)]
    pub fn client_options(
        url: &JsValue,
        options: Option<&js_sys::Object>,
        out: &mut [f64],
    ) -> Result<js_sys::Array, JsValue>;

    /// `client.request`'s options (see `requestOptions` in glue.js): `[timeoutMs (undefined:
    /// the default, null: none), onDisconnect is "fail", signal]`; the error is the
    /// `InvalidOptions` error.
    #[wasm_bindgen(js_name = requestOptions, catch)]
    pub fn request_options(options: Option<&js_sys::Object>) -> Result<js_sys::Array, JsValue>;

    /// `client.join`'s options (see `joinOptions` in glue.js): `[meta as JSON text, history]`,
    /// each `undefined` when not given; the error is the `InvalidOptions` error.
    #[wasm_bindgen(js_name = joinOptions, catch)]
    pub fn join_options(options: Option<&js_sys::Object>) -> Result<js_sys::Array, JsValue>;

    #[cfg(feature = "docs")]
    /// The storage key `client.doc(name, options)` saves under, if any (see `docStorageKey` in
    /// glue.js); the error is the `InvalidOptions` error.
    #[wasm_bindgen(js_name = docStorageKey, catch)]
    pub fn doc_storage_key(
        name: &str,
        options: Option<&js_sys::Object>,
    ) -> Result<Option<String>, JsValue>;

    /// `frames` each as `raw_frame` makes it; the error is the `InvalidOptions` message.
    #[wasm_bindgen(js_name = rawFrames, catch)]
    pub fn raw_frames(frames: &JsValue) -> Result<js_sys::Array, JsValue>;

    /// Raw mode: what `send(data)` puts on the wire (see `rawFrame` in glue.js); throws when
    /// `data` has no JSON form.
    #[wasm_bindgen(js_name = rawFrame, catch)]
    pub fn raw_frame(data: &JsValue) -> Result<JsValue, JsValue>;

    /// The size in bytes of a frame to send: a string's UTF-8 length or binary's byte length.
    #[wasm_bindgen(js_name = frameSize)]
    pub fn frame_size(frame: &JsValue) -> f64;

    /// The `payload` of the frame `readFrame` parsed last.
    #[wasm_bindgen(js_name = currentPayload)]
    pub fn current_payload() -> JsValue;

    #[wasm_bindgen(method)]
    pub fn clear(this: &Emitter);

    /// `JSON.stringify({kind, room?, payload?})`; throws for BigInts and cycles.
    #[wasm_bindgen(js_name = encodeFrame, catch)]
    pub fn encode_frame(
        kind: &str,
        room: Option<&str>,
        payload: &JsValue,
    ) -> Result<js_sys::JsString, JsValue>;

    /// A deep copy of a JSON value; throws for BigInts and cycles.
    #[wasm_bindgen(js_name = copyJson, catch)]
    pub fn copy_json(value: &JsValue) -> Result<JsValue, JsValue>;

    #[cfg(feature = "docs")]
    #[wasm_bindgen(js_name = saveState)]
    pub fn save_state(key: &str, state: &JsValue);

    /// The saved state, or `undefined`.
    #[cfg(feature = "docs")]
    #[wasm_bindgen(js_name = loadState)]
    pub fn load_state(key: &str) -> JsValue;

    pub type TokenFetcher;

    /// `done(id, ok, value)` receives each fetch's outcome (the token, or the failure's message)
    /// until `detach`.
    #[wasm_bindgen(constructor)]
    pub fn new(function: &js_sys::Function, done: &js_sys::Function) -> TokenFetcher;

    /// Calls the token function on a microtask; its outcome goes to `done` with `id`.
    #[wasm_bindgen(method)]
    pub fn fetch(this: &TokenFetcher, id: f64);

    /// Drops `done`: later outcomes go nowhere.
    #[wasm_bindgen(method)]
    pub fn detach(this: &TokenFetcher);

    /// Throws when `signal` is not an `AbortSignal`.
    #[wasm_bindgen(js_name = watchAbort, catch)]
    pub fn watch_abort(
        signal: &JsValue,
        listener: &js_sys::Function,
        id: f64,
    ) -> Result<js_sys::Function, JsValue>;

    /// `new Socket(url, protocols)` with binary frames as `ArrayBuffer`s; throws what the
    /// constructor throws.
    #[wasm_bindgen(js_name = openSocket, catch)]
    pub fn open_socket(
        socket: &js_sys::Function,
        url: &JsValue,
        protocols: &JsValue,
    ) -> Result<web_sys::WebSocket, JsValue>;

    /// Forwards the page's lifecycle and network events to `report(-1 - code)` (see glue.js),
    /// starting with what holds already (offline, hidden), reported from the constructor.
    pub type PageWatch;

    #[wasm_bindgen(constructor)]
    pub fn new(report: &js_sys::Function) -> PageWatch;

    /// Removes every listener.
    #[wasm_bindgen(method)]
    pub fn detach(this: &PageWatch);
}
