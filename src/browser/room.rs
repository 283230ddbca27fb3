//! The exported `Room` handle returned by `client.join`: one reference to a joined room.

use super::codec::JsFrame;
use super::driver::{pump, room_key, Driver, SharedDriver};
use super::errors;
use super::glue::Emitter;
use super::js_values;
use crate::core::RoomState;
use crate::protocol::Kind;
use js_sys::{Array, Function};
use std::cell::{Cell, RefCell};
use std::rc::Weak;
use wasm_bindgen::prelude::*;

/// One reference to a joined room. It does not keep the client alive; `leave()` releases it.
#[wasm_bindgen]
pub struct Room {
    driver: Weak<RefCell<Driver>>,
    emitter: Emitter,
    name: String,
    subscriptions: RefCell<Vec<Function>>,
    left: Cell<bool>,
}

impl Room {
    pub fn new(driver: Weak<RefCell<Driver>>, emitter: Emitter, name: String) -> Self {
        Room {
            driver,
            emitter,
            name,
            subscriptions: RefCell::new(Vec::new()),
            left: Cell::new(false),
        }
    }

    /// Subscribes `listener` to `key` until this handle leaves.
    pub fn subscribe(&self, key: &str, listener: &Function) -> Function {
        let unsubscribe = self.emitter.on(key, listener);
        self.subscriptions.borrow_mut().push(unsubscribe.clone());
        unsubscribe
    }

    fn driver(&self) -> Option<SharedDriver> {
        self.driver.upgrade().filter(|_| !self.left.get())
    }
}

#[wasm_bindgen]
impl Room {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// `{ status: "joining" | "joined" | "rejoining" | "left" | "error", recovered?, code?, message? }`
    #[wasm_bindgen(getter, unchecked_return_type = "RoomState")]
    pub fn state(&self) -> JsValue {
        let state = self
            .driver()
            .and_then(|d| d.borrow().core.room(&self.name).map(|r| r.state.clone()));
        js_values::room_state(&state.unwrap_or(RoomState::Left))
    }

    /// The room's current members (sessions), this client included once joined.
    #[wasm_bindgen(unchecked_return_type = "Member[]")]
    pub fn members(&self) -> Array {
        let members = Array::new();
        if let Some(driver) = self.driver() {
            if let Some(room) = driver.borrow().core.room(&self.name) {
                for member in room.members.values() {
                    members.push(&js_values::member(member));
                }
            }
        }
        members
    }

    /// Publishes `data` to the room (queued while offline). Every member receives it with the
    /// room's next sequence number, this client included.
    pub fn publish(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<(), JsValue> {
        let Some(driver) = self.driver() else {
            return Err(errors::named_error("Closed", "this room handle has left"));
        };
        let frame = JsFrame::encode(Kind::Publish, None, Some(&self.name), &data)?;
        let result = driver.borrow_mut().core.send(frame);
        pump(&driver, &self.emitter);
        result.map_err(|e| errors::client_error(&e))
    }

    /// Sets this client's presence metadata in the room; other members get an `update`.
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] meta: JsValue,
    ) -> Result<(), JsValue> {
        let Some(driver) = self.driver() else {
            return Ok(());
        };
        let text = js_sys::JSON::stringify(&meta)
            .map_err(|_| errors::named_error("InvalidOptions", "meta is not JSON"))?;
        driver
            .borrow_mut()
            .core
            .set_presence(&self.name, JsFrame::new(text));
        pump(&driver, &self.emitter);
        Ok(())
    }

    /// Subscribes to the room's `state`, `presence` or `message` events until `leave()`.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof RoomEvents")] event: &str,
        #[wasm_bindgen(unchecked_param_type = "(value: any, seq?: number) => void")]
        listener: &Function,
    ) -> Function {
        self.subscribe(&room_key(event, &self.name), listener)
    }

    /// Releases this handle's reference; the last one leaves the room. Idempotent. Listeners
    /// added through this handle hear the `left` state, then are removed.
    pub fn leave(&self) {
        if self.left.replace(true) {
            return;
        }
        if let Some(driver) = self.driver.upgrade() {
            // A handle freed while the client is busy (not expected) must not panic.
            let released = driver
                .try_borrow_mut()
                .map(|mut d| d.core.leave(&self.name))
                .is_ok();
            if released {
                pump(&driver, &self.emitter);
            }
        }
        for unsubscribe in self.subscriptions.take() {
            let _ = unsubscribe.call0(&JsValue::NULL);
        }
    }
}

impl Drop for Room {
    /// A freed (or garbage-collected) handle releases its reference: nobody can leave through
    /// it any more. Keep the handle for as long as the room is wanted.
    fn drop(&mut self) {
        self.leave();
    }
}
