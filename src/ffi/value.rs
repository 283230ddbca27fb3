//! JS values held by the core as handles: a `Val` is a slot in the JS side's value table
//! (`js/wasm/abi.ts`), so payloads stay JS values and never cross into WASM memory. Each `Val`
//! owns its slot: a clone takes a new one and a drop frees it. The document model's [`Json`] and
//! the wire codec's [`WireValue`] work on them through the imports below.

use crate::core::float::is_whole;
use crate::doc::Json;
use crate::protocol::codec::{WireValue, MAX_SAFE_INTEGER};
use alloc::{string::String, vec::Vec};

#[link(wasm_import_module = "v")]
extern "C" {
    /// A new slot holding the value of slot `h`.
    fn dup(h: u32) -> u32;
    fn free(h: u32);
    fn null() -> u32;
    fn object() -> u32;
    fn array() -> u32;
    fn push(array: u32, item: u32);
    fn string(ptr: *const u8, len: usize) -> u32;
    fn number(n: f64) -> u32;
    fn boolean(b: u32) -> u32;
    /// What the value is: see `Type`.
    fn kind(h: u32) -> u32;
    /// A number's value (NaN for anything else).
    fn float(h: u32) -> f64;
    /// A string's length in UTF-8 bytes.
    fn utf8_len(h: u32) -> usize;
    /// Writes a string's UTF-8 bytes at `ptr`, at most `len` (whole characters); returns how
    /// many it wrote.
    fn utf8_write(h: u32, ptr: *mut u8, len: usize) -> usize;
    /// An own property's value, 0 when absent or undefined.
    fn get(object: u32, ptr: *const u8, len: usize) -> u32;
    /// Defines an own property (a key `__proto__` from data stays a key).
    fn set(object: u32, ptr: *const u8, len: usize, value: u32);
    fn remove(object: u32, ptr: *const u8, len: usize);
    /// An array's length, or an object's own keys (as an array) with `keys`.
    fn length(h: u32) -> usize;
    fn keys(object: u32) -> u32;
    fn item(array: u32, index: usize) -> u32;
    /// `===`.
    fn same(a: u32, b: u32) -> u32;
}

/// `kind`'s answers.
const UNDEFINED: u32 = 0;
const NULL: u32 = 1;
const FALSE: u32 = 2;
const TRUE: u32 = 3;
const NUMBER: u32 = 4;
const STRING: u32 = 5;
const ARRAY: u32 = 6;
const OBJECT: u32 = 7;

/// One JS value, owned. Slot 0 is `undefined` and never freed.
#[derive(Debug)]
pub struct Val(u32);

impl Val {
    /// Takes ownership of slot `h` the JS side made for this call.
    pub fn from_raw(h: u32) -> Val {
        Val(h)
    }

    /// Takes slot `h`, `None` for 0 (undefined).
    pub fn optional(h: u32) -> Option<Val> {
        (h != 0).then_some(Val(h))
    }

    pub const fn undefined() -> Val {
        Val(0)
    }

    /// The slot, for a call that only reads it.
    pub fn raw(&self) -> u32 {
        self.0
    }

    pub fn from_str(text: &str) -> Val {
        Val(unsafe { string(text.as_ptr(), text.len()) })
    }

    pub fn from_f64(n: f64) -> Val {
        Val(unsafe { number(n) })
    }

    fn kind(&self) -> u32 {
        unsafe { kind(self.0) }
    }

    pub fn is_undefined(&self) -> bool {
        self.kind() == UNDEFINED
    }

    pub fn as_f64(&self) -> Option<f64> {
        (self.kind() == NUMBER).then(|| unsafe { float(self.0) })
    }

    /// Sets `key`, consuming `value`.
    pub fn put(&self, key: &str, value: Val) {
        unsafe { set(self.0, key.as_ptr(), key.len(), value.0) }
    }

    pub fn prop(&self, key: &str) -> Val {
        Val(unsafe { get(self.0, key.as_ptr(), key.len()) })
    }

    pub fn len(&self) -> usize {
        unsafe { length(self.0) }
    }
}

impl Clone for Val {
    fn clone(&self) -> Self {
        match self.0 {
            0 => Val(0),
            h => Val(unsafe { dup(h) }),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        if self.0 != 0 {
            unsafe { free(self.0) }
        }
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        unsafe { same(self.0, other.0) != 0 }
    }
}

/// A string's text copied into WASM memory (names, reasons, tokens: never payloads).
pub fn text(h: u32) -> String {
    let len = unsafe { utf8_len(h) };
    let mut bytes = Vec::with_capacity(len);
    unsafe {
        let written = utf8_write(h, bytes.as_mut_ptr(), len);
        bytes.set_len(written.min(len));
        // `TextEncoder.encodeInto` writes whole characters of valid UTF-8 (a lone surrogate
        // becomes U+FFFD), so no check is needed (and `from_utf8`'s code stays out).
        String::from_utf8_unchecked(bytes)
    }
}

impl Json for Val {
    fn null() -> Self {
        Val(unsafe { null() })
    }

    fn empty_object() -> Self {
        Val(unsafe { object() })
    }

    fn is_null(&self) -> bool {
        self.kind() == NULL
    }

    fn is_object(&self) -> bool {
        self.kind() == OBJECT
    }

    fn entries(&self) -> Vec<(String, Self)> {
        if !Json::is_object(self) {
            return Vec::new();
        }
        let names = Val(unsafe { keys(self.0) });
        (0..names.len())
            .map(|i| {
                let name = text(names.item(i).0);
                let value = self.prop(&name);
                (name, value)
            })
            .collect()
    }

    fn get(&self, key: &str) -> Option<Self> {
        if !Json::is_object(self) {
            return None;
        }
        Val::optional(unsafe { get(self.0, key.as_ptr(), key.len()) })
    }

    fn insert(&mut self, key: &str, value: Self) {
        self.put(key, value)
    }

    fn remove(&mut self, key: &str) {
        unsafe { remove(self.0, key.as_ptr(), key.len()) }
    }
}

impl WireValue for Val {
    fn string(text: &str) -> Self {
        Val::from_str(text)
    }

    fn number(n: u64) -> Self {
        Val::from_f64(n as f64)
    }

    fn boolean(b: bool) -> Self {
        Val(unsafe { boolean(b as u32) })
    }

    fn array(items: Vec<Self>) -> Self {
        let list = Val(unsafe { array() });
        for item in items {
            unsafe { push(list.0, item.0) }
        }
        list
    }

    fn as_string(&self) -> Option<String> {
        self.is_string().then(|| text(self.0))
    }

    fn is_string(&self) -> bool {
        self.kind() == STRING
    }

    fn as_u64(&self) -> Option<u64> {
        self.as_f64()
            .filter(|n| is_whole(*n) && *n >= 0.0 && *n <= MAX_SAFE_INTEGER as f64)
            .map(|n| n as u64)
    }

    fn as_bool(&self) -> Option<bool> {
        match self.kind() {
            TRUE => Some(true),
            FALSE => Some(false),
            _ => None,
        }
    }

    fn item_count(&self) -> Option<usize> {
        (self.kind() == ARRAY).then(|| self.len())
    }

    fn item(&self, index: usize) -> Self {
        Val(unsafe { item(self.0, index) })
    }
}
