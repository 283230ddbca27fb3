//! Bindings to the JS listener registry in `emitter.js`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/browser/emitter.js")]
extern "C" {
    #[derive(Clone)]
    pub type Emitter;

    #[wasm_bindgen(constructor)]
    pub fn new() -> Emitter;

    #[wasm_bindgen(method)]
    pub fn on(this: &Emitter, event: &str, listener: &js_sys::Function) -> js_sys::Function;

    #[wasm_bindgen(method)]
    pub fn emit(this: &Emitter, event: &str, value: &JsValue);

    #[wasm_bindgen(method)]
    pub fn clear(this: &Emitter);

    #[wasm_bindgen(js_name = encodeFrame)]
    pub fn encode_frame(kind: &str, payload: &JsValue) -> js_sys::JsString;
}
