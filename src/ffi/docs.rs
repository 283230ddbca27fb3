//! Shared documents (`resocket/docs` only): `client.doc` and the `SyncedDoc` handle's calls
//! (`js/wasm/doc.ts`), and the saved copy a persisted document keeps in browser storage. The
//! saved ops keep their origin and sequence number, so the server still applies each one once
//! after a reload.

use super::client::Driver;
use super::frame::Frame;
use super::out;
use super::value::{text, Val};
use crate::core::docs::{DocState, PendingOp};
use crate::doc::{merge_depth_ok, Change, Json, Op};
use crate::protocol::codec::{field, read_op_body, write_op_body, ClientFrame, WireValue};
use alloc::{borrow::ToOwned, string::String, vec::Vec};

const FRAME: &str = "frame";
const PENDING: &str = "pending";

fn name(doc: u32) -> String {
    text(Val::from_raw(doc).raw())
}

fn state<'a>(client: *mut Driver, doc: u32) -> Option<&'a DocState<Val, Frame>> {
    unsafe { &*client }.core.doc(&name(doc))
}

/// Opens document `doc`, restored from `saved` (a saved copy, 0: none or not readable).
#[no_mangle]
pub extern "C" fn doc_open(client: *mut Driver, doc: u32, saved: u32) {
    let d = unsafe { &mut *client };
    let name = name(doc);
    match Val::optional(saved).and_then(|saved| load(&saved)) {
        Some((rev, epoch, entries, pending)) => d
            .core
            .open_doc_restored(&name, rev, epoch, entries, pending),
        None => d.core.open_doc(&name),
    }
}

#[no_mangle]
pub extern "C" fn doc_close(client: *mut Driver, doc: u32) {
    unsafe { &mut *client }.core.close_doc(&name(doc));
}

/// Pushes the document's revision, pending count and synced flag, then its keys (in order)
/// with their values and revisions; 0 when it is not open.
#[no_mangle]
pub extern "C" fn doc_read(client: *mut Driver, doc: u32) -> u32 {
    let Some(state) = state(client, doc) else {
        return 0;
    };
    out::whole(state.confirmed.rev);
    out::whole(state.pending.len() as u64);
    out::flag(state.synced);
    for (key, entry) in state.view.entries.iter() {
        out::text(key);
        out::value(&entry.value);
        out::whole(entry.rev);
    }
    1
}

/// Pushes the value of `key` in the document's view and the revision that wrote it; 0 when the
/// document is not open or has no such key. One key, without reading the others.
#[no_mangle]
pub extern "C" fn doc_get(client: *mut Driver, doc: u32, key: u32) -> u32 {
    let key = text(Val::from_raw(key).raw());
    let Some(entry) = state(client, doc).and_then(|state| state.view.entries.get(&key)) else {
        return 0;
    };
    out::value(&entry.value);
    out::whole(entry.rev);
    1
}

/// Applies a local op (`op`: 0 set, 1 merge, 2 delete) with `value` (copied by JS already) and
/// `if_rev` (-1: none). Returns its cseq; -1 when it cannot be encoded (JS throws what
/// `JSON.stringify` threw), -2 with the refusal pushed out, -3 for a merge patch nested too deep.
#[no_mangle]
pub extern "C" fn doc_op(
    client: *mut Driver,
    doc: u32,
    op: u32,
    key: u32,
    value: u32,
    if_rev: f64,
) -> f64 {
    let d = unsafe { &mut *client };
    // Every slot is taken first, so none is left behind by an early return.
    let (doc, key, value) = (
        name(doc),
        text(Val::from_raw(key).raw()),
        Val::from_raw(value),
    );
    let change = match op {
        0 => Change::Set(value),
        1 if !merge_depth_ok(&value) => return -3.0,
        1 => Change::Merge(value),
        _ => Change::Delete,
    };
    let op = Op {
        key,
        change,
        if_rev: (if_rev >= 0.0).then_some(if_rev as u64),
    };
    let cseq = d.core.allocate_cseq();
    let origin = d.core.origin().to_owned();
    let Some(frame) = Frame::client(ClientFrame::Op {
        doc: &doc,
        cseq,
        origin: &origin,
        op: &op,
    }) else {
        return -1.0;
    };
    match d.core.apply_op(&doc, cseq, op, frame) {
        Ok(()) => cseq as f64,
        Err(error) => {
            out::error(&error);
            -2.0
        }
    }
}

/// The saved copy of document `doc` (confirmed state and pending ops), 0 when it is not open.
#[no_mangle]
pub extern "C" fn doc_save(client: *mut Driver, doc: u32) -> u32 {
    let Some(state) = state(client, doc) else {
        return 0;
    };
    let entries = Val::empty_object();
    for (key, entry) in state.confirmed.entries.iter() {
        let saved = Val::empty_object();
        saved.put(field::VALUE, entry.value.clone());
        saved.put(field::REV, Val::number(entry.rev));
        entries.put(key, saved);
    }
    let pending = state.pending.iter().map(|op| {
        // The op body as the wire has it, plus the encoded frame to re-send.
        let saved = write_op_body(&op.origin, Some(op.cseq), &op.op);
        saved.put(FRAME, op.frame.text.clone());
        saved
    });
    let document = Val::empty_object();
    document.put(field::REV, Val::number(state.confirmed.rev));
    if let Some(epoch) = &state.epoch {
        document.put(field::EPOCH, Val::string(epoch));
    }
    document.put(field::ENTRIES, entries);
    document.put(PENDING, Val::array(pending.collect()));
    let raw = document.raw();
    core::mem::forget(document);
    raw
}

type Saved = (
    u64,
    Option<String>,
    Vec<(String, Val, u64)>,
    Vec<PendingOp<Val, Frame>>,
);

/// Reads a saved copy; `None` when it is not one (the document then opens empty).
fn load(saved: &Val) -> Option<Saved> {
    let rev = saved.get(field::REV)?.as_u64()?;
    let mut entries = Vec::new();
    let saved_entries = saved.get(field::ENTRIES).unwrap_or_else(Val::null);
    for (key, entry) in saved_entries.entries() {
        let value = entry.get(field::VALUE).unwrap_or_else(Val::null);
        entries.push((key, value, entry.get(field::REV)?.as_u64()?));
    }
    let mut pending = Vec::new();
    let ops = saved.get(PENDING).unwrap_or_else(Val::null);
    for i in 0..ops.item_count().unwrap_or(0) {
        let saved_op = ops.item(i);
        let (origin, cseq, op) = read_op_body(&saved_op).ok()?;
        let frame = saved_op.get(FRAME).filter(|f| f.is_string())?;
        pending.push(PendingOp {
            origin,
            cseq: cseq?,
            op,
            frame: Frame::sized(frame),
        });
    }
    let epoch = saved.get(field::EPOCH).and_then(|e| e.as_string());
    Some((rev, epoch, entries, pending))
}
