//! [`Json`] and the codec's [`WireValue`] for `serde_json::Value`, used by the server and native
//! tests.

use super::Json;
use crate::protocol::codec::{WireValue, MAX_SAFE_INTEGER};
use serde_json::{Map, Value};

impl Json for Value {
    fn null() -> Self {
        Value::Null
    }

    fn empty_object() -> Self {
        Value::Object(Map::new())
    }

    fn is_null(&self) -> bool {
        Value::is_null(self)
    }

    fn is_object(&self) -> bool {
        Value::is_object(self)
    }

    fn entries(&self) -> Vec<(String, Self)> {
        match self {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        }
    }

    fn get(&self, key: &str) -> Option<Self> {
        self.as_object().and_then(|m| m.get(key)).cloned()
    }

    fn insert(&mut self, key: &str, value: Self) {
        if let Value::Object(map) = self {
            map.insert(key.to_owned(), value);
        }
    }

    fn remove(&mut self, key: &str) {
        if let Value::Object(map) = self {
            map.remove(key);
        }
    }
}

impl WireValue for Value {
    fn string(text: &str) -> Self {
        Value::from(text)
    }

    fn number(n: u64) -> Self {
        Value::from(n)
    }

    fn boolean(b: bool) -> Self {
        Value::Bool(b)
    }

    fn array(items: Vec<Self>) -> Self {
        Value::Array(items)
    }

    fn as_string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }

    fn is_string(&self) -> bool {
        Value::is_string(self)
    }

    fn as_u64(&self) -> Option<u64> {
        Value::as_u64(self).filter(|n| *n <= MAX_SAFE_INTEGER)
    }

    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn item_count(&self) -> Option<usize> {
        self.as_array().map(Vec::len)
    }

    fn item(&self, index: usize) -> Self {
        self[index].clone()
    }
}
