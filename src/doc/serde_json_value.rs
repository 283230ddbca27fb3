//! [`Json`] for `serde_json::Value`, used by the server and native tests.

use super::Json;
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
