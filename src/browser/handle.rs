//! What `Room` and `SyncedDoc` handles share: a weak reference to the driver (a handle never
//! keeps a freed client alive), the listeners added through it, and a release that runs once.

use super::driver::{pump, Core, Driver, SharedDriver};
use super::glue::{self, Emitter};
use alloc::rc::Weak;
use alloc::string::String;
use core::cell::{Cell, RefCell};
use js_sys::Function;
use wasm_bindgen::prelude::*;

pub struct Handle {
    driver: Weak<RefCell<Driver>>,
    pub emitter: Emitter,
    pub name: String,
    /// The subscriptions made through this handle that have not ended yet.
    subscriptions: js_sys::Set,
    released: Cell<bool>,
}

impl Handle {
    pub fn new(driver: Weak<RefCell<Driver>>, emitter: Emitter, name: String) -> Self {
        Handle {
            driver,
            emitter,
            name,
            subscriptions: js_sys::Set::new(&JsValue::UNDEFINED),
            released: Cell::new(false),
        }
    }

    /// The driver, unless this handle was released or the client freed.
    pub fn driver(&self) -> Option<SharedDriver> {
        self.driver.upgrade().filter(|_| !self.released.get())
    }

    /// Subscribes `listener` to `key` until the handle is released.
    pub fn subscribe(&self, key: &str, listener: &Function) -> Function {
        self.emitter.on(key, listener, Some(&self.subscriptions))
    }

    /// Runs `release` on the core once, lets the listeners hear its events, then removes them.
    pub fn release(&self, release: impl FnOnce(&mut Core, &str)) {
        if self.released.replace(true) {
            return;
        }
        if let Some(driver) = self.driver.upgrade() {
            // A handle freed while the client is busy (not expected) must not panic.
            let released = driver
                .try_borrow_mut()
                .map(|mut d| release(&mut d.core, &self.name))
                .is_ok();
            if released {
                pump(&driver, &self.emitter);
            }
        }
        glue::end_all(&self.subscriptions);
    }
}
