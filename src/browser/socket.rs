//! One `WebSocket` (the browser's, or a compatible class such as Node's `ws`) and the handlers
//! attached to it. The handle owns its closures and detaches them before they are dropped, so no
//! closure outlives its socket and none leaks.

use alloc::string::String;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

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
    Message(JsValue),
    Closed { code: u16, reason: String },
}

pub struct SocketHandle {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl SocketHandle {
    /// Opens a socket of class `class` (the global `WebSocket` or the `WebSocket` option)
    /// whose events all go to `on_event`.
    pub fn open(
        class: &js_sys::Function,
        url: &JsValue,
        protocols: &JsValue,
        on_event: impl Fn(SocketEvent) + Clone + 'static,
    ) -> Result<Self, JsValue> {
        let ws = super::glue::open_socket(class, url, protocols)?;
        let handler = on_event.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || handler(SocketEvent::Open));
        let handler = on_event.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            handler(SocketEvent::Message(event.data()))
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            on_event(SocketEvent::Closed {
                code: event.code(),
                reason: event.reason(),
            })
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(SocketHandle {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
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
