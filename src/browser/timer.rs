//! A browser timeout, cleared when dropped (what gloo-timers' `Timeout` does; gloo-timers needs
//! std, which the package build leaves out).

use js_sys::Function;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, millis: i32) -> JsValue;

    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// A scheduled call of a callback; dropping it cancels the call. The callback is the caller's
/// (the driver's one timer closure, made once rather than per timer).
pub struct Timeout {
    id: JsValue,
}

impl Timeout {
    pub fn new(millis: u32, callback: &Function) -> Self {
        Timeout {
            id: set_timeout(callback, millis as i32),
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}
