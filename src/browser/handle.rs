//! What `Room` and `SyncedDoc` handles share: a weak reference to the driver (a handle never
//! keeps a freed client alive), the listeners added through it, and a release that runs once.

use super::driver::{pump, Core, Driver, SharedDriver};
use super::glue::Emitter;
use js_sys::Function;
use std::cell::{Cell, RefCell};
use std::rc::Weak;
use wasm_bindgen::prelude::*;

pub struct Handle {
    driver: Weak<RefCell<Driver>>,
    pub emitter: Emitter,
    pub name: String,
    subscriptions: RefCell<Vec<Function>>,
    released: Cell<bool>,
}

impl Handle {
    pub fn new(driver: Weak<RefCell<Driver>>, emitter: Emitter, name: String) -> Self {
        Handle {
            driver,
            emitter,
            name,
            subscriptions: RefCell::new(Vec::new()),
            released: Cell::new(false),
        }
    }

    /// The driver, unless this handle was released or the client freed.
    pub fn driver(&self) -> Option<SharedDriver> {
        self.driver.upgrade().filter(|_| !self.released.get())
    }

    /// Subscribes `listener` to `key` until the handle is released.
    pub fn subscribe(&self, key: &str, listener: &Function) -> Function {
        let unsubscribe = self.emitter.on(key, listener);
        self.subscriptions.borrow_mut().push(unsubscribe.clone());
        unsubscribe
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
        for unsubscribe in self.subscriptions.take() {
            let _ = unsubscribe.call0(&JsValue::NULL);
        }
    }
}
