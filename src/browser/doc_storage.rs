//! Saving an open document (confirmed state and pending ops) in browser storage, so a reload
//! keeps unsent edits. The saved ops keep their origin and sequence number, so the server
//! still applies each one once after the reload.

use super::codec::JsFrame;
use super::glue::{load_state, save_state};
use super::js_values::ObjectBuilder;
use crate::core::docs::{DocState, PendingOp};
use crate::doc::{Change, Op};
use crate::protocol::OpName;
use js_sys::{Array, JsString, Object, Reflect};
use wasm_bindgen::prelude::*;

/// A document's state as restored from storage.
pub struct Saved {
    pub rev: u64,
    pub entries: Vec<(String, JsValue, u64)>,
    pub pending: Vec<PendingOp<JsValue, JsFrame>>,
}

fn field(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn number(object: &JsValue, key: &str) -> Option<u64> {
    field(object, key)
        .as_f64()
        .filter(|n| n.fract() == 0.0 && *n >= 0.0)
        .map(|n| n as u64)
}

pub fn save(key: &str, state: &DocState<JsValue, JsFrame>) {
    let entries = Object::new();
    for (name, entry) in state.confirmed.entries.iter() {
        let saved = ObjectBuilder::new()
            .set("value", entry.value.clone())
            .number("rev", entry.rev)
            .build();
        let _ = Reflect::set(&entries, &name.into(), &saved);
    }
    let pending = Array::new();
    for op in &state.pending {
        let (name, value) = match &op.op.change {
            Change::Set(v) => (OpName::Set, v.clone()),
            Change::Merge(v) => (OpName::Merge, v.clone()),
            Change::Delete => (OpName::Delete, JsValue::NULL),
        };
        let mut saved = ObjectBuilder::new()
            .set("origin", op.origin.as_str())
            .number("cseq", op.cseq)
            .set("key", op.op.key.as_str())
            .set("op", name.as_wire())
            .set("value", value)
            .set("frame", op.frame.text.clone());
        if let Some(rev) = op.op.if_rev {
            saved = saved.number("ifRev", rev);
        }
        pending.push(&saved.build());
    }
    let document = ObjectBuilder::new()
        .number("rev", state.confirmed.rev)
        .set("entries", entries)
        .set("pending", pending)
        .build();
    save_state(key, &document);
}

/// The saved state under `key`; `None` when there is none or it is not readable.
pub fn load(key: &str) -> Option<Saved> {
    let saved = load_state(key);
    let rev = number(&saved, "rev")?;
    let entries_object = field(&saved, "entries");
    let mut entries = Vec::new();
    if entries_object.is_object() {
        for name in Object::keys(entries_object.unchecked_ref::<Object>()).iter() {
            let entry = field(&entries_object, &name.as_string()?);
            entries.push((
                name.as_string()?,
                field(&entry, "value"),
                number(&entry, "rev")?,
            ));
        }
    }
    let mut pending = Vec::new();
    let saved_pending = field(&saved, "pending");
    if Array::is_array(&saved_pending) {
        for op in Array::from(&saved_pending).iter() {
            let value = field(&op, "value");
            let change = match OpName::from_wire(&field(&op, "op").as_string()?)? {
                OpName::Set => Change::Set(value),
                OpName::Merge => Change::Merge(value),
                OpName::Delete => Change::Delete,
            };
            let frame: JsString = field(&op, "frame").dyn_into().ok()?;
            pending.push(PendingOp {
                origin: field(&op, "origin").as_string()?,
                cseq: number(&op, "cseq")?,
                op: Op {
                    key: field(&op, "key").as_string()?,
                    change,
                    if_rev: number(&op, "ifRev"),
                },
                frame: JsFrame::new(frame),
            });
        }
    }
    Some(Saved {
        rev,
        entries,
        pending,
    })
}
