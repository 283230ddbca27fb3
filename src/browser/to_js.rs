//! Every Rust value JS receives as a plain object, in one place: events, connection and room
//! states, metrics, members and errors. Their shapes are the ones `contract.d.ts` declares;
//! their names the ones in `event_names.rs`. Written by hand: a generic serde bridge would cost
//! more of the size budget than everything else in the client.

use super::event_names::{ClientEvent, RoomEvent, INVALID_OPTIONS};
use super::js_values::ObjectBuilder;
use crate::core::{ClientError, CloseReason, ConnectionState, Event, Metrics, RoomState};
use crate::protocol::Member;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
#[cfg(feature = "docs")]
use {super::event_names::DocEvent, crate::doc::Change, crate::protocol::OpName};

/// Where converted events go (the driver: its emitter and request promises).
pub trait Deliver {
    /// To `client.on(event)` listeners.
    fn client(&mut self, event: ClientEvent, value: &JsValue);
    /// To `room.on(event)` listeners of `room`.
    fn room(&mut self, room: &str, event: RoomEvent, value: &JsValue);
    /// To `doc.on(event)` listeners of `doc`.
    #[cfg(feature = "docs")]
    fn doc(&mut self, doc: &str, event: DocEvent, value: &JsValue);
    /// A user message, the app's value as received: `client.on("message")` without `room`,
    /// `room.on("message")` (and the join handler) with the room, its sequence number and its
    /// author as the server stamped it (a JS string, not copied through WASM).
    fn message(&mut self, room: Option<(&str, u64)>, payload: &JsValue, user: Option<&JsValue>);
    /// A request settled; its error becomes a `ResocketError` only if its promise is still there.
    fn reply(&mut self, id: u64, result: Result<JsValue, ClientError>);
}

/// Converts one core event and hands it to `to`.
pub fn event(event: Event<JsValue>, to: &mut impl Deliver) {
    match event {
        Event::Message(payload) => to.message(None, &payload, None),
        Event::RoomMessage {
            room,
            seq,
            payload,
            user,
        } => to.message(Some((&room, seq)), &payload, user.as_ref()),
        Event::State(state) => to.client(ClientEvent::State, &self::state(&state)),
        Event::Error(error) => to.client(ClientEvent::Error, &client_error(&error)),
        Event::Dropped { count, bytes } => to.client(
            ClientEvent::Dropped,
            &ObjectBuilder::new()
                .number("count", count as u64)
                .number("bytes", bytes as u64)
                .build(),
        ),
        Event::Rtt {
            rtt_ms,
            smoothed_ms,
        } => to.client(
            ClientEvent::Rtt,
            &ObjectBuilder::new()
                .number("rttMs", rtt_ms)
                .number("smoothedMs", smoothed_ms)
                .build(),
        ),
        Event::Session { id, resumed, lost } => to.client(
            ClientEvent::Session,
            &ObjectBuilder::new()
                .set("id", id)
                .set("resumed", resumed)
                .set("lost", lost)
                .build(),
        ),
        Event::Notification(payload) => to.client(ClientEvent::Notification, &payload),
        Event::Reply { id, result } => to.reply(id, result),
        Event::Room { room, state } => to.room(&room, RoomEvent::State, &room_state(&state)),
        Event::Presence {
            room,
            change,
            member,
        } => to.room(
            &room,
            RoomEvent::Presence,
            &ObjectBuilder::new()
                .set("event", change.as_wire())
                .set("member", self::member(&member))
                .build(),
        ),
        #[cfg(feature = "docs")]
        Event::DocChanged { doc, keys } => {
            let list = js_sys::Array::new();
            for key in keys {
                list.push(&JsValue::from_str(&key));
            }
            to.doc(
                &doc,
                DocEvent::Change,
                &ObjectBuilder::new().set("keys", list).build(),
            )
        }
        #[cfg(feature = "docs")]
        Event::DocConfirmed { doc, cseq, rev } => to.doc(
            &doc,
            DocEvent::Confirmed,
            &ObjectBuilder::new()
                .number("cseq", cseq)
                .number("rev", rev)
                .build(),
        ),
        #[cfg(feature = "docs")]
        Event::DocRejected {
            doc,
            cseq,
            op,
            error,
        } => {
            // The op travels with the event, so the app can re-apply it on the new state.
            let (name, value) = match op.change {
                Change::Set(v) => (OpName::Set, v),
                Change::Merge(v) => (OpName::Merge, v),
                Change::Delete => (OpName::Delete, JsValue::UNDEFINED),
            };
            to.doc(
                &doc,
                DocEvent::Rejected,
                &ObjectBuilder::new()
                    .number("cseq", cseq)
                    .set("key", op.key)
                    .set("op", name.as_wire())
                    .set("value", value)
                    .set("error", client_error(&error))
                    .build(),
            )
        }
        #[cfg(feature = "docs")]
        Event::DocSynced { doc, rev } => to.doc(
            &doc,
            DocEvent::Synced,
            &ObjectBuilder::new().number("rev", rev).build(),
        ),
        #[cfg(feature = "docs")]
        Event::DocReset { doc, rev } => to.doc(
            &doc,
            DocEvent::Reset,
            &ObjectBuilder::new().number("rev", rev).build(),
        ),
        #[cfg(feature = "docs")]
        Event::DocError { doc, error } => to.doc(&doc, DocEvent::Error, &client_error(&error)),
    }
}

/// A `ConnectionState`.
pub fn state(state: &ConnectionState) -> JsValue {
    let object = ObjectBuilder::new().set("status", state.name());
    match state {
        ConnectionState::Idle => object,
        ConnectionState::Open { url } => object.number("url", *url as u64),
        ConnectionState::Connecting { attempt, url } => object
            .number("attempt", u64::from(*attempt))
            .number("url", *url as u64),
        ConnectionState::Reconnecting {
            attempt,
            delay_ms,
            retry_at,
            code,
            reason,
        } => object
            .number("attempt", u64::from(*attempt))
            .number("delayMs", *delay_ms)
            .number("retryAt", *retry_at)
            .number("code", u64::from(*code))
            .set("reason", reason.as_str()),
        ConnectionState::Offline { code, reason } => object
            .number("code", u64::from(*code))
            .set("reason", reason.as_str()),
        ConnectionState::Closed { reason } => object.set("reason", close_reason(reason)),
    }
    .build()
}

fn close_reason(reason: &CloseReason) -> JsValue {
    let object = ObjectBuilder::new().set("kind", reason.kind());
    match reason {
        CloseReason::Client | CloseReason::Unauthorized => object,
        CloseReason::MaxAttempts { attempts } => object.number("attempts", u64::from(*attempts)),
        CloseReason::Rejected { code, reason } => object
            .number("code", u64::from(*code))
            .set("reason", reason.as_str()),
    }
    .build()
}

/// A `Metrics` snapshot.
pub fn metrics(m: &Metrics) -> JsValue {
    ObjectBuilder::new()
        .number("messagesSent", m.messages_sent)
        .number("bytesSent", m.bytes_sent)
        .number("messagesReceived", m.messages_received)
        .number("bytesReceived", m.bytes_received)
        .number("reconnects", m.reconnects)
        .number("errors", m.errors)
        .number("dropped", m.dropped)
        .number("duplicates", m.duplicates)
        .number("oversizedFrames", m.oversized_frames)
        .number("unknownReplies", m.unknown_replies)
        .number("writePauses", m.write_pauses)
        .number("unsentFrames", m.unsent_frames)
        .number("unsentBytes", m.unsent_bytes)
        .number("bufferedBytes", m.buffered_bytes)
        .number("pendingRequests", m.pending_requests)
        .number("queueDepth", m.queue_depth)
        .number("queueBytes", m.queue_bytes)
        .optional_number("rttMs", m.rtt_ms)
        .optional_number("smoothedRttMs", m.smoothed_rtt_ms)
        .number("uptimeMs", m.uptime_ms)
        .number("qualityScore", u64::from(m.quality_score))
        .set("quality", m.quality.as_str())
        .build()
}

/// A `RoomState`.
pub fn room_state(state: &RoomState) -> JsValue {
    let object = ObjectBuilder::new().set("status", state.name());
    match state {
        RoomState::Joined { recovered } => object.set("recovered", *recovered),
        RoomState::Error { code, message } => object
            .set("code", code.as_str())
            .set("message", message.as_str()),
        RoomState::Joining | RoomState::Rejoining | RoomState::Left => object,
    }
    .build()
}

/// A room `Member`.
pub fn member(member: &Member<JsValue>) -> JsValue {
    ObjectBuilder::new()
        .set("id", member.id.as_str())
        .set(
            "user",
            member
                .user
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        )
        .set("meta", member.meta.clone().unwrap_or(JsValue::NULL))
        .build()
}

/// A `ResocketError` with the error's stable code (see `ClientError::code`).
pub fn client_error(error: &ClientError) -> JsValue {
    named_error(error.code(), &error.message())
}

/// A `ResocketError` for options or arguments the driver refused.
pub fn invalid_options(message: &str) -> JsValue {
    named_error(INVALID_OPTIONS, message)
}

pub fn named_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("ResocketError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}
