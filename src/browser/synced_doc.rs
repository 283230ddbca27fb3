//! The exported `SyncedDoc` handle returned by `client.doc(name)`: an optimistic view of a shared
//! document. Local ops show at once; the server confirms them, or rejects them and the view rolls
//! back; ops from others are rebased under pending ones. The logic is the core's; this only
//! converts values and events.

use super::codec::JsFrame;
use super::driver::{pump, Driver, SharedDriver};
use super::event_names::doc_key;
use super::glue::{copy_json, set_key, Emitter};
use super::handle::Handle;
use super::to_js;
use crate::core::float::is_whole;
use crate::core::ClientError;
use crate::doc::{merge_depth_ok, Change, Op};
use crate::protocol::codec::ClientFrame;
use crate::protocol::OpName;
use alloc::rc::Weak;
use alloc::{borrow::ToOwned, string::String};
use core::cell::RefCell;
use js_sys::{Array, Function, Object};
use wasm_bindgen::prelude::*;

/// One reference to an open shared document. It does not keep the client alive; `close()`
/// (or freeing it) releases it.
#[wasm_bindgen]
pub struct SyncedDoc {
    handle: Handle,
}

impl SyncedDoc {
    pub fn new(driver: Weak<RefCell<Driver>>, emitter: Emitter, name: String) -> Self {
        SyncedDoc {
            handle: Handle::new(driver, emitter, name),
        }
    }

    fn driver(&self) -> Result<SharedDriver, JsValue> {
        self.handle.driver().ok_or_else(|| {
            to_js::client_error(&ClientError::DocNotOpen {
                doc: self.handle.name.clone(),
            })
        })
    }

    fn submit(
        &self,
        name: OpName,
        key: String,
        value: Option<JsValue>,
        options: Option<Object>,
    ) -> Result<f64, JsValue> {
        let driver = self.driver()?;
        let if_rev = match options {
            None => None,
            Some(options) => {
                let rev =
                    js_sys::Reflect::get(&options, &"ifRev".into()).unwrap_or(JsValue::UNDEFINED);
                if rev.is_undefined() || rev.is_null() {
                    None
                } else {
                    Some(
                        rev.as_f64()
                            .filter(|r| is_whole(*r) && *r >= 0.0)
                            .ok_or_else(|| {
                                to_js::invalid_options("ifRev must be a non-negative integer")
                            })? as u64,
                    )
                }
            }
        };
        // A private copy: the app may change its object after handing it over.
        let value = value.map(|v| copy_json(&v)).transpose()?;
        // Applying a merge patch recurses once per level: a deeper one is refused up front.
        if name == OpName::Merge && !value.as_ref().is_none_or(merge_depth_ok) {
            return Err(to_js::invalid_options(
                "merge patch nested deeper than 128 levels",
            ));
        }
        let (cseq, origin) = {
            let mut d = driver.borrow_mut();
            (d.core.allocate_cseq(), d.core.origin().to_owned())
        };
        let change = match (name, value) {
            (OpName::Set, Some(v)) => Change::Set(v),
            (OpName::Merge, Some(v)) => Change::Merge(v),
            _ => Change::Delete,
        };
        let op = Op {
            key,
            change,
            if_rev,
        };
        let frame = JsFrame::client(ClientFrame::Op {
            doc: &self.handle.name,
            cseq,
            origin: &origin,
            op: &op,
        })?;
        let result = driver
            .borrow_mut()
            .core
            .apply_op(&self.handle.name, cseq, op, frame);
        pump(&driver, &self.handle.emitter);
        result.map_err(|e| to_js::client_error(&e))?;
        Ok(cseq as f64)
    }
}

#[wasm_bindgen]
impl SyncedDoc {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.handle.name.clone()
    }

    /// The value of `key` in the view (confirmed state plus pending ops). Do not mutate it.
    #[wasm_bindgen(unchecked_return_type = "unknown")]
    pub fn get(&self, key: &str) -> JsValue {
        self.read(|doc| doc.view.get(key).cloned())
            .flatten()
            .unwrap_or(JsValue::UNDEFINED)
    }

    /// The view's keys, sorted.
    #[wasm_bindgen(unchecked_return_type = "string[]")]
    pub fn keys(&self) -> Array {
        let keys = Array::new();
        self.read(|doc| {
            for key in doc.view.entries.keys() {
                keys.push(&JsValue::from_str(key));
            }
        });
        keys
    }

    /// The view as a plain object `{ key: value }`; every key an own property (`__proto__`
    /// too, defined rather than assigned, so it never becomes the object's prototype).
    #[wasm_bindgen(js_name = toObject, unchecked_return_type = "Record<string, unknown>")]
    pub fn to_object(&self) -> JsValue {
        let object: JsValue = Object::new().into();
        self.read(|doc| {
            for (key, entry) in doc.view.entries.iter() {
                set_key(&object, key, &entry.value);
            }
        });
        object
    }

    /// Revision of `key` in the view, for compare-and-set (`ifRev`); 0 when absent.
    #[wasm_bindgen(js_name = keyRev)]
    pub fn key_rev(&self, key: &str) -> f64 {
        self.read(|doc| doc.view.key_rev(key)).unwrap_or(0) as f64
    }

    /// The server revision the confirmed state is at.
    #[wasm_bindgen(getter)]
    pub fn rev(&self) -> f64 {
        self.read(|doc| doc.confirmed.rev).unwrap_or(0) as f64
    }

    /// Local ops the server has not confirmed or rejected yet.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> u32 {
        self.read(|doc| doc.pending.len() as u32).unwrap_or(0)
    }

    /// Whether the document caught up with the server since the last (re)connect.
    #[wasm_bindgen(getter)]
    pub fn synced(&self) -> bool {
        self.read(|doc| doc.synced).unwrap_or(false)
    }

    /// Sets `key` to `value` at once; returns the op's sequence number.
    pub fn set(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpOptions")] options: Option<Object>,
    ) -> Result<f64, JsValue> {
        self.submit(OpName::Set, key, Some(value), options)
    }

    /// Deletes `key` at once; returns the op's sequence number.
    pub fn delete(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_optional_param_type = "OpOptions")] options: Option<Object>,
    ) -> Result<f64, JsValue> {
        self.submit(OpName::Delete, key, None, options)
    }

    /// Applies an RFC 7386 merge patch to `key` at once; returns the op's sequence number.
    pub fn merge(
        &self,
        key: String,
        #[wasm_bindgen(unchecked_param_type = "unknown")] patch: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpOptions")] options: Option<Object>,
    ) -> Result<f64, JsValue> {
        self.submit(OpName::Merge, key, Some(patch), options)
    }

    /// Subscribes to `change` ({keys}), `confirmed` ({cseq, rev}), `rejected` ({cseq, key,
    /// error}), `synced` ({rev}) or `error` (a `ResocketError`: the server refused
    /// the sync) until `close()`. Typed in `contract.d.ts`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &Function) -> Function {
        self.handle
            .subscribe(&doc_key(event, &self.handle.name), listener)
    }

    /// Releases this handle; the last one closes the document (pending ops are dropped).
    pub fn close(&self) {
        self.handle.release(|core, name| core.close_doc(name));
    }
}

impl SyncedDoc {
    fn read<T>(
        &self,
        f: impl FnOnce(&crate::core::docs::DocState<JsValue, JsFrame>) -> T,
    ) -> Option<T> {
        let driver = self.driver().ok()?;
        let d = driver.borrow();
        d.core.doc(&self.handle.name).map(f)
    }
}

impl Drop for SyncedDoc {
    fn drop(&mut self) {
        self.close();
    }
}
