//! Saving an open document (confirmed state and pending ops) in browser storage, so a reload
//! keeps unsent edits. The saved ops keep their origin and sequence number, so the server
//! still applies each one once after the reload.

use super::codec::JsFrame;
use super::glue::{load_state, save_state, set_key};
use super::js_values::ObjectBuilder;
use crate::core::docs::{DocState, PendingOp};
use crate::protocol::codec::{field, read_op_body, write_op_body, WireValue};
use alloc::{string::String, vec::Vec};
use js_sys::{Array, JsString, Object, Reflect};
use wasm_bindgen::prelude::*;

/// The saved op's encoded frame, next to its body.
const FRAME: &str = "frame";
const PENDING: &str = "pending";

/// A document's state as restored from storage.
pub struct Saved {
    pub rev: u64,
    /// The epoch `rev` counts in; `None` for a copy saved before epochs or before any sync.
    pub epoch: Option<String>,
    pub entries: Vec<(String, JsValue, u64)>,
    pub pending: Vec<PendingOp<JsValue, JsFrame>>,
}

fn prop(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn number(object: &JsValue, key: &str) -> Option<u64> {
    WireValue::as_u64(&prop(object, key))
}

pub fn save(key: &str, state: &DocState<JsValue, JsFrame>) {
    let entries: JsValue = Object::new().into();
    for (name, entry) in state.confirmed.entries.iter() {
        let saved = ObjectBuilder::new()
            .set(field::VALUE, entry.value.clone())
            .number(field::REV, entry.rev)
            .build();
        // Defined, not assigned: a key `__proto__` stays a key in the saved copy.
        set_key(&entries, name, &saved);
    }
    let pending = Array::new();
    for op in &state.pending {
        // The op body as the wire has it, plus the encoded frame to re-send.
        let saved = write_op_body(&op.origin, Some(op.cseq), &op.op);
        let _ = Reflect::set(&saved, &FRAME.into(), &op.frame.text);
        pending.push(&saved);
    }
    let document = ObjectBuilder::new()
        .number(field::REV, state.confirmed.rev)
        .set(field::EPOCH, state.epoch.as_deref())
        .set(field::ENTRIES, entries)
        .set(PENDING, pending)
        .build();
    save_state(key, &document);
}

/// The saved state under `key`; `None` when there is none or it is not readable.
pub fn load(key: &str) -> Option<Saved> {
    let saved = load_state(key);
    let rev = number(&saved, field::REV)?;
    let entries_object = prop(&saved, field::ENTRIES);
    let mut entries = Vec::new();
    if entries_object.is_object() {
        for name in Object::keys(entries_object.unchecked_ref::<Object>()).iter() {
            let entry = prop(&entries_object, &name.as_string()?);
            entries.push((
                name.as_string()?,
                prop(&entry, field::VALUE),
                number(&entry, field::REV)?,
            ));
        }
    }
    let mut pending = Vec::new();
    let saved_pending = prop(&saved, PENDING);
    if Array::is_array(&saved_pending) {
        for saved_op in Array::from(&saved_pending).iter() {
            let (origin, cseq, op) = read_op_body(&saved_op).ok()?;
            let frame: JsString = prop(&saved_op, FRAME).dyn_into().ok()?;
            pending.push(PendingOp {
                origin,
                cseq: cseq?,
                op,
                frame: JsFrame::new(frame),
            });
        }
    }
    Some(Saved {
        rev,
        epoch: prop(&saved, field::EPOCH).as_string(),
        entries,
        pending,
    })
}
