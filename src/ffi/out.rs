//! Rust values handed to JS as a flat list of numbers, strings and values, pushed in order onto
//! the JS side's output list (`js/wasm/abi.ts`) by the call that answers: events, states,
//! errors, metrics, room members. The JS side reads each list in the order written here and
//! builds the objects `contract.d.ts` declares: object building stays in JS, where it is small.

use super::value::Val;
use crate::core::{ClientError, CloseReason, ConnectionState, Event, Metrics, RoomState};
use crate::protocol::Member;
#[cfg(feature = "docs")]
use {crate::doc::Change, crate::protocol::OpName};

#[link(wasm_import_module = "o")]
extern "C" {
    fn num(n: f64);
    fn str(ptr: *const u8, len: usize);
    /// Pushes the value of a slot (0: undefined); the slot stays Rust's.
    fn val(h: u32);
}

pub fn number(n: impl Into<f64>) {
    unsafe { num(n.into()) }
}

pub fn whole(n: u64) {
    number(n as f64)
}

pub fn flag(b: bool) {
    number(b as u8)
}

pub fn text(s: &str) {
    unsafe { str(s.as_ptr(), s.len()) }
}

pub fn value(v: &Val) {
    unsafe { val(v.raw()) }
}

pub fn optional_text(s: Option<&str>) {
    match s {
        Some(s) => text(s),
        None => unsafe { val(0) },
    }
}

/// The codes of the events `poll_event` returns, in `js/wasm/events.ts`'s order.
#[repr(i32)]
pub enum EventCode {
    State,
    Message,
    Error,
    Dropped,
    Rtt,
    Session,
    Reply,
    Room,
    RoomMessage,
    Presence,
    Notification,
    #[cfg(feature = "docs")]
    DocChanged,
    #[cfg(feature = "docs")]
    DocConfirmed,
    #[cfg(feature = "docs")]
    DocRejected,
    #[cfg(feature = "docs")]
    DocSynced,
    #[cfg(feature = "docs")]
    DocReset,
    #[cfg(feature = "docs")]
    DocError,
}

/// Writes one event's fields; returns its code.
pub fn event(event: Event<Val>) -> EventCode {
    match event {
        Event::State(s) => {
            state(&s);
            EventCode::State
        }
        Event::Message(payload) => {
            value(&payload);
            EventCode::Message
        }
        Event::Error(e) => {
            error(&e);
            EventCode::Error
        }
        Event::Dropped { count, bytes } => {
            whole(count as u64);
            whole(bytes as u64);
            EventCode::Dropped
        }
        Event::Rtt {
            rtt_ms,
            smoothed_ms,
        } => {
            whole(rtt_ms);
            whole(smoothed_ms);
            EventCode::Rtt
        }
        Event::Session { id, resumed, lost } => {
            text(&id);
            flag(resumed);
            flag(lost);
            EventCode::Session
        }
        Event::Reply { id, result } => {
            whole(id);
            match result {
                Ok(v) => {
                    flag(true);
                    value(&v);
                }
                Err(e) => {
                    flag(false);
                    error(&e);
                }
            }
            EventCode::Reply
        }
        Event::Room { room, state } => {
            text(&room);
            room_state(&state);
            EventCode::Room
        }
        Event::RoomMessage {
            room,
            seq,
            payload,
            user,
        } => {
            text(&room);
            whole(seq);
            value(&payload);
            value(user.as_ref().unwrap_or(&Val::undefined()));
            EventCode::RoomMessage
        }
        Event::Presence {
            room,
            change,
            member: m,
        } => {
            text(&room);
            text(change.as_wire());
            member(&m);
            EventCode::Presence
        }
        Event::Notification(payload) => {
            value(&payload);
            EventCode::Notification
        }
        #[cfg(feature = "docs")]
        Event::DocChanged { doc, keys } => {
            text(&doc);
            for key in &keys {
                text(key);
            }
            EventCode::DocChanged
        }
        #[cfg(feature = "docs")]
        Event::DocConfirmed { doc, cseq, rev } => {
            text(&doc);
            whole(cseq);
            whole(rev);
            EventCode::DocConfirmed
        }
        #[cfg(feature = "docs")]
        Event::DocRejected {
            doc,
            cseq,
            op,
            error: e,
        } => {
            text(&doc);
            whole(cseq);
            text(&op.key);
            let (name, v) = match op.change {
                Change::Set(v) => (OpName::Set, v),
                Change::Merge(v) => (OpName::Merge, v),
                Change::Delete => (OpName::Delete, Val::undefined()),
            };
            text(name.as_wire());
            value(&v);
            error(&e);
            EventCode::DocRejected
        }
        #[cfg(feature = "docs")]
        Event::DocSynced { doc, rev } => {
            text(&doc);
            whole(rev);
            EventCode::DocSynced
        }
        #[cfg(feature = "docs")]
        Event::DocReset { doc, rev } => {
            text(&doc);
            whole(rev);
            EventCode::DocReset
        }
        #[cfg(feature = "docs")]
        Event::DocError { doc, error: e } => {
            text(&doc);
            error(&e);
            EventCode::DocError
        }
    }
}

/// A `ConnectionState`: its status, then its fields in declaration order.
pub fn state(state: &ConnectionState) {
    text(state.name());
    match state {
        ConnectionState::Idle => {}
        ConnectionState::Open { url } => whole(*url as u64),
        ConnectionState::Connecting { attempt, url } => {
            number(*attempt);
            whole(*url as u64);
        }
        ConnectionState::Reconnecting {
            attempt,
            delay_ms,
            retry_at,
            code,
            reason,
        } => {
            number(*attempt);
            whole(*delay_ms);
            whole(*retry_at);
            number(*code);
            text(reason);
        }
        ConnectionState::Offline { code, reason } => {
            number(*code);
            text(reason);
        }
        ConnectionState::Closed { reason } => {
            text(reason.kind());
            match reason {
                CloseReason::Client | CloseReason::Unauthorized => {}
                CloseReason::MaxAttempts { attempts } => number(*attempts),
                CloseReason::Rejected { code, reason } => {
                    number(*code);
                    text(reason);
                }
            }
        }
    }
}

/// A `ResocketError`: its parts (`ClientError::parts`), from which js/wasm/values.ts builds the
/// code and message as `ClientError::code` and `message` do.
pub fn error(error: &ClientError) {
    error.parts(whole, text);
}

pub fn room_state(state: &RoomState) {
    text(state.name());
    match state {
        RoomState::Joined { recovered } => flag(*recovered),
        RoomState::Error { code, message } => {
            text(code);
            text(message);
        }
        RoomState::Joining | RoomState::Rejoining | RoomState::Left => {}
    }
}

pub fn member(member: &Member<Val>) {
    text(&member.id);
    optional_text(member.user.as_deref());
    value(member.meta.as_ref().unwrap_or(&Val::undefined()));
}

/// A `Metrics` snapshot, in `contract.d.ts`'s order (no RTT yet: undefined).
pub fn metrics(m: &Metrics) {
    for n in [
        m.messages_sent,
        m.bytes_sent,
        m.messages_received,
        m.bytes_received,
        m.reconnects,
        m.errors,
        m.dropped,
        m.duplicates,
        m.oversized_frames,
        m.unknown_replies,
        m.write_pauses,
        m.unsent_frames,
        m.unsent_bytes,
        m.buffered_bytes,
        m.pending_requests,
        m.queue_depth,
        m.queue_bytes,
    ] {
        whole(n);
    }
    for rtt in [m.rtt_ms, m.smoothed_rtt_ms] {
        match rtt {
            Some(ms) => whole(ms),
            None => value(&Val::undefined()),
        }
    }
    whole(m.uptime_ms);
    number(m.quality_score);
    text(m.quality.as_str());
}
