//! One `WebSocket` (the browser's, or a compatible class such as Node's `ws`) and the handlers
//! attached to it. The handle owns its closures and detaches them before they are dropped, so no
//! closure outlives its socket and none leaks.

use alloc::string::String;
use wasm_bindgen::prelude::*;
use web_sys::WebSocket;

#[wasm_bindgen]
extern "C" {
    /// A `WebSocket` seen through a `send` that takes a JS value (a string, or binary in raw
    /// mode), so outbound text never crosses into WASM memory (web-sys's `send_with_str` copies
    /// it through a `&str`).
    #[wasm_bindgen(js_name = WebSocket)]
    type JsTextSocket;

    #[wasm_bindgen(method, js_name = send, catch)]
    fn send(this: &JsTextSocket, data: &JsValue) -> Result<(), JsValue>;
}

/// What happened on a socket, delivered to the driver.
pub enum SocketEvent {
    Open,
    /// A received frame, read in JS (`listen` in glue.js): `read` is what `readFrame` (in raw
    /// mode `readRaw`) returned, `seq` a room message's seq or a reply's id, negative
    /// (`-1 - seq`) when the room is not the socket's last one.
    Message {
        read: f64,
        seq: f64,
    },
    Closed {
        code: u16,
        reason: String,
    },
}

pub struct SocketHandle {
    ws: WebSocket,
    /// The socket's one handler (see `listen` in glue.js): its open, message and close events
    /// in one closure, which costs less WASM than one per event.
    _on_event: Closure<dyn FnMut(f64, f64)>,
}

impl SocketHandle {
    /// Opens a socket of class `class` (the global `WebSocket` or the `WebSocket` option)
    /// whose events all go to `on_event`. Its frames are read in JS, with `limit`
    /// (`max_inbound_bytes`) and `raw` (raw mode's options, `undefined` in resocket mode).
    pub fn open(
        class: &js_sys::Function,
        url: &JsValue,
        protocols: &JsValue,
        (limit, raw): (f64, &JsValue),
        on_event: impl Fn(SocketEvent) + 'static,
    ) -> Result<Self, JsValue> {
        let ws = super::glue::open_socket(class, url, protocols)?;
        // `listen` calls (-1, 0) on open, (-2, code) on close, with the reason in
        // `currentFrame`, and (read, seq) for a frame: a reader's result is never negative.
        let handler = Closure::<dyn FnMut(f64, f64)>::new(move |read: f64, seq: f64| {
            on_event(if read >= 0.0 {
                SocketEvent::Message { read, seq }
            } else if read == -1.0 {
                SocketEvent::Open
            } else {
                SocketEvent::Closed {
                    code: seq as u16,
                    reason: super::glue::current_frame().as_string().unwrap_or_default(),
                }
            })
        });
        super::glue::listen(&ws, limit, raw, handler.as_ref().unchecked_ref());
        Ok(SocketHandle {
            ws,
            _on_event: handler,
        })
    }

    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    /// Bytes the socket accepted and has not sent yet. The WebSocket API has no drain event,
    /// so the driver reads this after sending and on a timer while writes are paused.
    pub fn buffered_amount(&self) -> usize {
        self.ws.buffered_amount() as usize
    }

    pub fn send_frame(&self, text: &JsValue) -> Result<(), JsValue> {
        self.ws.unchecked_ref::<JsTextSocket>().send(text)
    }

    /// Detaches the handlers and closes the socket if it is still connecting or open.
    pub fn close(self, code: u16, reason: &str) {
        self.detach();
        if matches!(
            self.ws.ready_state(),
            WebSocket::CONNECTING | WebSocket::OPEN
        ) {
            // Only fails for codes browsers refuse; ours are 1000 or 4000-4999.
            let _ = self.ws.close_with_code_and_reason(code, reason);
        }
        // `Drop` now finds the socket closing and only detaches again.
    }

    fn detach(&self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        // Whatever path drops the handle, no handler may call a dropped closure afterwards,
        // and a socket nobody listens to must not stay open.
        self.detach();
        if matches!(
            self.ws.ready_state(),
            WebSocket::CONNECTING | WebSocket::OPEN
        ) {
            let _ = self.ws.close_with_code_and_reason(1000, "client dropped");
        }
    }
}
