//! Reading what Redis answers: script replies, member records and stream entries. A reply
//! that does not have the expected shape is reported as [`EngineError::Unavailable`] (the store
//! is not behaving as this server expects), never a panic.

use crate::state::{ConnId, EngineError};
use axum::extract::ws::Utf8Bytes;
use redis::Value;

pub fn unavailable(err: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(err.to_string())
}

fn bad(what: &str) -> EngineError {
    EngineError::Unavailable(format!("unexpected reply from Redis: {what}"))
}

/// A reply's items (an array reply).
pub fn items(value: Value) -> Result<Vec<Value>, EngineError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(bad("not an array")),
    }
}

/// A string (or integer) reply as text; `None` for nil.
pub fn text_or_nil(value: &Value) -> Result<Option<String>, EngineError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes.clone())
            .map(Some)
            .map_err(|_| bad("not UTF-8")),
        Value::SimpleString(text) => Ok(Some(text.clone())),
        Value::Okay => Ok(Some("OK".to_owned())),
        Value::Int(n) => Ok(Some(n.to_string())),
        _ => Err(bad("not a string")),
    }
}

pub fn text(value: &Value) -> Result<String, EngineError> {
    text_or_nil(value)?.ok_or_else(|| bad("nil"))
}

pub fn number(value: &Value) -> Result<u64, EngineError> {
    text(value)?.parse().map_err(|_| bad("not a number"))
}

/// The `index`-th item as text.
pub fn text_at(items: &[Value], index: usize) -> Result<String, EngineError> {
    text(items.get(index).ok_or_else(|| bad("too short"))?)
}

pub fn number_at(items: &[Value], index: usize) -> Result<u64, EngineError> {
    number(items.get(index).ok_or_else(|| bad("too short"))?)
}

/// A member record: `"<node> <conn> <order> <member JSON>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub node: &'a str,
    pub conn: ConnId,
    pub order: u64,
    pub member: &'a str,
}

impl Record<'_> {
    pub fn parse(text: &str) -> Result<Record<'_>, EngineError> {
        let mut parts = text.splitn(4, ' ');
        let mut next = || parts.next().ok_or_else(|| bad("member record"));
        let node = next()?;
        let conn = next()?.parse().map_err(|_| bad("member record conn"))?;
        let order = next()?.parse().map_err(|_| bad("member record order"))?;
        let member = next()?;
        Ok(Record {
            node,
            conn,
            order,
            member,
        })
    }

    pub fn format(node: &str, conn: ConnId, order: u64, member: &str) -> String {
        format!("{node} {conn} {order} {member}")
    }

    pub fn is_held_by(&self, node: &str, conn: ConnId) -> bool {
        self.node == node && self.conn == conn
    }
}

/// One stream entry: its number (the id's first part) and its fields `f` (the frame) and `t`
/// (when it was added, ms; absent for document ops).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub number: u64,
    pub frame: Utf8Bytes,
    pub at_ms: Option<u64>,
}

/// The entries of an `XRANGE` / `XREVRANGE` reply.
pub fn entries(value: Value) -> Result<Vec<Entry>, EngineError> {
    items(value)?
        .into_iter()
        .map(|entry| {
            let parts = items(entry)?;
            let id = text_at(&parts, 0)?;
            let seq: u64 = id
                .split_once('-')
                .and_then(|(n, _)| n.parse().ok())
                .ok_or_else(|| bad("stream id"))?;
            let fields = items(
                parts
                    .into_iter()
                    .nth(1)
                    .ok_or_else(|| bad("stream entry"))?,
            )?;
            let mut frame = None;
            let mut at_ms = None;
            for pair in fields.chunks(2) {
                match (text(&pair[0])?.as_str(), pair.get(1)) {
                    ("f", Some(value)) => frame = Some(text(value)?),
                    ("t", Some(value)) => at_ms = Some(number(value)?),
                    _ => {}
                }
            }
            Ok(Entry {
                number: seq,
                frame: frame
                    .ok_or_else(|| bad("stream entry without frame"))?
                    .into(),
                at_ms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_spaces_in_the_member() {
        let text = Record::format("n-1", 7, 3, r#"{"id":"s-1","meta":{"a b":1}}"#);
        let record = Record::parse(&text).expect("record");
        assert_eq!(record.member, r#"{"id":"s-1","meta":{"a b":1}}"#);
        assert!(record.is_held_by("n-1", 7));
        assert!(!record.is_held_by("n-1", 8));
        assert!(Record::parse("n-1 x 3 {}").is_err());
        assert!(Record::parse("n-1 1").is_err());
    }

    #[test]
    fn stream_entries_are_read() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("5-0"),
            Value::Array(vec![bulk("f"), bulk("{}"), bulk("t"), bulk("17")]),
        ])]);
        let read = entries(reply).expect("entries");
        assert_eq!(
            read,
            vec![Entry {
                number: 5,
                frame: Utf8Bytes::from_static("{}"),
                at_ms: Some(17)
            }]
        );
        assert!(entries(Value::Int(1)).is_err());
    }
}
