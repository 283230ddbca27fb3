//! The exported `Room` handle returned by `client.join`: one reference to a joined room.

use super::client::{new_call, start_publish};
use super::codec::JsFrame;
use super::driver::{pump, Driver};
use super::event_names::room_key;
use super::glue::{self, Emitter};
use super::handle::Handle;
use super::to_js;
use crate::core::{ClientError, RoomState};
use crate::protocol::codec::ClientFrame;
use alloc::rc::Weak;
use alloc::string::String;
use core::cell::RefCell;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;

fn promise_closed() -> Promise {
    Promise::reject(&to_js::client_error(&ClientError::Closed))
}

/// One reference to a joined room. It does not keep the client alive; `leave()` releases it.
#[wasm_bindgen]
pub struct Room {
    handle: Handle,
}

impl Room {
    pub fn new(driver: Weak<RefCell<Driver>>, emitter: Emitter, name: String) -> Self {
        Room {
            handle: Handle::new(driver, emitter, name),
        }
    }

    /// Subscribes `listener` to `key` until this handle leaves.
    pub fn subscribe(&self, key: &str, listener: &Function) -> Function {
        self.handle.subscribe(key, listener)
    }
}

#[wasm_bindgen]
impl Room {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.handle.name.clone()
    }

    /// `{ status: "joining" | "joined" | "rejoining" | "left" | "error", recovered?, code?, message? }`
    #[wasm_bindgen(getter, unchecked_return_type = "RoomState")]
    pub fn state(&self) -> JsValue {
        let state = self.handle.driver().and_then(|d| {
            d.borrow()
                .core
                .room(&self.handle.name)
                .map(|r| r.state.clone())
        });
        to_js::room_state(&state.unwrap_or(RoomState::Left))
    }

    /// The room's members (sessions), this client included once joined. While the room rejoins
    /// after a drop, the last known ones (`membersStale`).
    #[wasm_bindgen(unchecked_return_type = "Member[]")]
    pub fn members(&self) -> Array {
        let members = Array::new();
        if let Some(driver) = self.handle.driver() {
            if let Some(room) = driver.borrow().core.room(&self.handle.name) {
                for member in room.members.values() {
                    members.push(&to_js::member(member));
                }
            }
        }
        members
    }

    /// True while `members()` is the list from before a drop, kept while the room rejoins and
    /// replaced by the server's at the rejoin (its `state` event `joined`).
    #[wasm_bindgen(getter, js_name = membersStale)]
    pub fn members_stale(&self) -> bool {
        self.handle.driver().is_some_and(|driver| {
            driver
                .borrow()
                .core
                .room(&self.handle.name)
                .is_some_and(|room| room.members_stale())
        })
    }

    /// Publishes `data` to the room (queued while offline). Every member receives it once with
    /// the room's next sequence number, this client included. Resolves with that number when
    /// the server acknowledges it; re-sent after a reconnect if the acknowledgement was lost
    /// (the server applies it once); rejects with the server's error (`Forbidden`, ...),
    /// `SessionLost` (sent, and the session that knew the outcome is gone), `QueueFull`,
    /// `MessageTooLarge` or `Closed`.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn publish(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Promise {
        let (promise, Some(call)) = new_call() else {
            return promise_closed();
        };
        let Some(driver) = self.handle.driver() else {
            call.settle(Err(to_js::named_error(
                ClientError::Closed.code(),
                "this room handle has left",
            )));
            return promise;
        };
        let id = driver.borrow_mut().core.allocate_request_id();
        let frame = ClientFrame::Publish {
            id: Some(id),
            room: &self.handle.name,
            payload: data,
        };
        match JsFrame::client(frame) {
            Ok(frame) => start_publish(&driver, id, frame, call),
            Err(error) => call.settle(Err(error)),
        }
        pump(&driver, &self.handle.emitter);
        promise
    }

    /// Sets this client's presence metadata in the room; other members get an `update`, and so
    /// does this client's own `presence` listener (its entry in `members()` changes at once).
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] meta: JsValue,
    ) -> Result<(), JsValue> {
        let Some(driver) = self.handle.driver() else {
            return Ok(());
        };
        let not_json = |_| to_js::invalid_options("meta is not JSON");
        let text = js_sys::JSON::stringify(&meta).map_err(not_json)?;
        // Our own entry gets a copy, as the other members do: later changes to `meta` stay out.
        let local = glue::copy_json(&meta).map_err(not_json)?;
        driver
            .borrow_mut()
            .core
            .set_presence(&self.handle.name, JsFrame::new(text), local);
        pump(&driver, &self.handle.emitter);
        Ok(())
    }

    /// Subscribes to the room's `state`, `presence` or `message` events until `leave()`. Typed in
    /// `contract.d.ts`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &Function) -> Function {
        self.handle
            .subscribe(&room_key(event, &self.handle.name), listener)
    }

    /// Releases this handle's reference; the last one leaves the room. Idempotent. Listeners
    /// added through this handle hear the `left` state, then are removed.
    pub fn leave(&self) {
        self.handle.release(|core, name| core.leave(name));
    }
}

impl Drop for Room {
    /// A freed (or garbage-collected) handle releases its reference: nobody can leave through
    /// it any more. Keep the handle for as long as the room is wanted.
    fn drop(&mut self) {
        self.leave();
    }
}
