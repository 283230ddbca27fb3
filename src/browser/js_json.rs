//! The shared document model's [`Json`] and the wire codec's [`WireValue`] over JS values, so documents in the browser hold the
//! app's values as they are. `merge_patch` builds new objects, so shared values are never
//! changed in place.

use super::glue::{own_value, set_key};
use crate::core::float::is_whole;
use crate::doc::Json;
use crate::protocol::codec::{WireValue, MAX_SAFE_INTEGER};
use alloc::{string::String, vec::Vec};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

impl Json for JsValue {
    fn null() -> Self {
        JsValue::NULL
    }

    fn empty_object() -> Self {
        Object::new().into()
    }

    fn is_null(&self) -> bool {
        JsValue::is_null(self)
    }

    fn is_object(&self) -> bool {
        JsValue::is_object(self) && !Array::is_array(self)
    }

    fn entries(&self) -> Vec<(String, Self)> {
        if !Json::is_object(self) {
            return Vec::new();
        }
        let mut entries = Vec::new();
        for key in Object::keys(self.unchecked_ref::<Object>()).iter() {
            if let (Ok(value), Some(key)) = (Reflect::get(self, &key), key.as_string()) {
                entries.push((key, value));
            }
        }
        entries
    }

    /// Own properties only: an inherited one (`__proto__`, `toString`) is not a member.
    fn get(&self, key: &str) -> Option<Self> {
        if !Json::is_object(self) {
            return None;
        }
        Some(own_value(self, key)).filter(|v| !v.is_undefined())
    }

    /// Defines an own property: a key `__proto__` from data must stay a key, where an
    /// assignment would replace the object's prototype.
    fn insert(&mut self, key: &str, value: Self) {
        set_key(self, key, &value);
    }

    fn remove(&mut self, key: &str) {
        let _ = Reflect::delete_property(self.unchecked_ref::<Object>(), &key.into());
    }
}

impl WireValue for JsValue {
    fn string(text: &str) -> Self {
        JsValue::from_str(text)
    }

    fn number(n: u64) -> Self {
        JsValue::from_f64(n as f64)
    }

    fn boolean(b: bool) -> Self {
        JsValue::from_bool(b)
    }

    fn array(items: Vec<Self>) -> Self {
        items.into_iter().collect::<Array>().into()
    }

    fn as_string(&self) -> Option<String> {
        JsValue::as_string(self)
    }

    fn is_string(&self) -> bool {
        JsValue::is_string(self)
    }

    fn as_u64(&self) -> Option<u64> {
        self.as_f64()
            .filter(|n| is_whole(*n) && *n >= 0.0 && *n <= MAX_SAFE_INTEGER as f64)
            .map(|n| n as u64)
    }

    fn as_bool(&self) -> Option<bool> {
        JsValue::as_bool(self)
    }

    fn item_count(&self) -> Option<usize> {
        Array::is_array(self).then(|| self.unchecked_ref::<Array>().length() as usize)
    }

    fn item(&self, index: usize) -> Self {
        self.unchecked_ref::<Array>().get(index as u32)
    }
}
