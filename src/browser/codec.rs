//! Browser codec: frames stay JS strings and payloads stay JS values. A received frame is parsed
//! once with `JSON.parse`; only the envelope's small fields cross into Rust.

use super::glue::{current_frame, current_payload, encode_frame, utf8_length};
use super::js_values::ObjectBuilder;
use crate::core::{DocInbound, Inbound, Transmit, WireSize};
use crate::doc::Json;
use crate::doc::{Change, Op};
use crate::protocol::{ErrorBody, ErrorCode, Kind, Member, OpName, PresenceChange};
use js_sys::{JsString, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    // Takes and returns JS values so the text never crosses into WASM memory.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;
}

/// An encoded frame and its size in UTF-8 bytes, measured once.
#[derive(Clone)]
pub struct JsFrame {
    pub text: JsString,
    size: usize,
}

impl JsFrame {
    pub fn new(text: JsString) -> Self {
        let size = utf8_length(&text) as usize;
        JsFrame { text, size }
    }

    /// A frame of `kind` carrying `payload`, and optionally an id and a room. Fails with the
    /// JS error when the payload cannot be serialised (a BigInt, a cycle).
    pub fn encode(
        kind: Kind,
        id: Option<u64>,
        room: Option<&str>,
        payload: &JsValue,
    ) -> Result<Self, JsValue> {
        encode_frame(kind.as_wire(), id.map(|i| i as f64), room, payload).map(JsFrame::new)
    }

    /// The value this frame's text encodes (for metadata kept as JSON text).
    pub fn parse(&self) -> JsValue {
        json_parse(&self.text).unwrap_or(JsValue::NULL)
    }
}

impl WireSize for JsFrame {
    fn wire_size(&self) -> usize {
        self.size
    }
}

/// Envelope field names and the hot kind, created once instead of per frame.
pub struct Keys {
    kind: JsValue,
    id: JsValue,
    room: JsValue,
    seq: JsValue,
    payload: JsValue,
    error: JsValue,
}

impl Keys {
    pub fn new() -> Self {
        Keys {
            kind: "kind".into(),
            id: "id".into(),
            room: "room".into(),
            seq: "seq".into(),
            payload: "payload".into(),
            error: "error".into(),
        }
    }
}

/// The frame to send for a transmit.
pub fn encode(transmit: &Transmit<JsFrame>) -> JsString {
    // Control payloads are plain objects built here or metadata that was serialised before.
    let control = |kind: Kind, id: Option<u64>, room: Option<&str>, payload: JsValue| {
        encode_frame(kind.as_wire(), id.map(|i| i as f64), room, &payload)
            .unwrap_or_else(|_| JsString::from("{}"))
    };
    match transmit {
        Transmit::User { frame, .. } => frame.text.clone(),
        Transmit::Hello(hello) => {
            let mut payload = ObjectBuilder::new().number("version", u64::from(hello.version));
            if let Some(user) = &hello.user {
                payload = payload.set("user", user.as_str());
            }
            if let Some(resume) = &hello.resume {
                let resume = ObjectBuilder::new()
                    .set("session", resume.session.as_str())
                    .set("token", resume.token.as_str());
                payload = payload.set("resume", resume.build());
            }
            control(Kind::Hello, None, None, payload.build())
        }
        Transmit::Ping { id } => control(Kind::Ping, Some(*id), None, JsValue::UNDEFINED),
        Transmit::Pong { id } => control(Kind::Pong, Some(*id), None, JsValue::UNDEFINED),
        Transmit::Join {
            id,
            room,
            since,
            meta,
        } => {
            let mut payload = ObjectBuilder::new();
            if let Some(since) = since {
                payload = payload.number("since", *since);
            }
            if let Some(meta) = meta {
                payload = payload.set("meta", meta.parse());
            }
            control(Kind::Join, Some(*id), Some(room), payload.build())
        }
        Transmit::Leave { id, room } => {
            control(Kind::Leave, Some(*id), Some(room), JsValue::UNDEFINED)
        }
        Transmit::Sync { id, doc, since } => {
            let mut payload = ObjectBuilder::new();
            if let Some(since) = since {
                payload = payload.number("since", *since);
            }
            control(Kind::Sync, Some(*id), Some(doc), payload.build())
        }
        Transmit::Unsync { id, doc } => {
            control(Kind::Unsync, Some(*id), Some(doc), JsValue::UNDEFINED)
        }
        Transmit::Presence { room, meta } => {
            let payload = ObjectBuilder::new().set("meta", meta.parse()).build();
            control(Kind::Presence, None, Some(room), payload)
        }
    }
}

fn get(object: &JsValue, key: &JsValue) -> JsValue {
    Reflect::get(object, key).unwrap_or(JsValue::UNDEFINED)
}

fn get_str(object: &JsValue, key: &str) -> Option<String> {
    get(object, &key.into()).as_string()
}

fn integer(value: JsValue) -> Option<u64> {
    value
        .as_f64()
        .filter(|n| n.fract() == 0.0 && *n >= 0.0)
        .map(|n| n as u64)
}

fn member(value: &JsValue) -> Option<Member<JsValue>> {
    let meta = get(value, &"meta".into());
    Some(Member {
        id: get_str(value, "id")?,
        user: get_str(value, "user"),
        meta: (!meta.is_undefined()).then_some(meta),
    })
}

fn error_body(value: &JsValue) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::from_wire(&get_str(value, "code").unwrap_or_default()),
        message: get_str(value, "message").unwrap_or_default(),
    }
}

/// A decoded frame: for the connection core, or for one of its documents.
pub enum Decoded {
    Frame(Inbound<JsValue>),
    Doc(DocInbound<JsValue>),
}

impl From<Inbound<JsValue>> for Decoded {
    fn from(frame: Inbound<JsValue>) -> Self {
        Decoded::Frame(frame)
    }
}

/// Reads an op payload (`{origin, cseq?, key, op, value?, ifRev?}`).
fn doc_op(payload: &JsValue) -> Result<(String, Option<u64>, Op<JsValue>), String> {
    let origin = get_str(payload, "origin").ok_or("op has no \"origin\"")?;
    let key = get_str(payload, "key").ok_or("op has no \"key\"")?;
    let value = get(payload, &"value".into());
    let change = match get_str(payload, "op")
        .as_deref()
        .and_then(OpName::from_wire)
    {
        Some(OpName::Set) => Change::Set(value),
        Some(OpName::Merge) => Change::Merge(value),
        Some(OpName::Delete) => Change::Delete,
        None => return Err("op has no valid \"op\"".into()),
    };
    let cseq = integer(get(payload, &"cseq".into()));
    let if_rev = integer(get(payload, &"ifRev".into()));
    Ok((
        origin,
        cseq,
        Op {
            key,
            change,
            if_rev,
        },
    ))
}

/// Decodes the frame `glue::read_frame` just read and classified as `class`; the error is a
/// human-readable reason.
pub fn decode(keys: &Keys, class: i32) -> Result<Decoded, String> {
    match class {
        -3 => return Err("binary frames are not part of the protocol".into()),
        -2 => return Err("frame is not a JSON object".into()),
        -1 => return Err("frame is not valid JSON".into()),
        // The hot path: after the call that read the frame, one reads the payload.
        1 => return Ok(Inbound::Message(current_payload()).into()),
        _ => {}
    }
    let frame = current_frame();
    let room = || get(&frame, &keys.room).as_string();
    let payload = || get(&frame, &keys.payload);
    if class == 2 {
        return Ok(Inbound::RoomMessage {
            room: room().ok_or("room message has no string \"room\"")?,
            seq: integer(get(&frame, &keys.seq)).ok_or("room message has no \"seq\"")?,
            payload: payload(),
        }
        .into());
    }
    let kind = get(&frame, &keys.kind);
    let kind = kind
        .as_string()
        .ok_or_else(|| "frame has no string \"kind\"".to_owned())?;
    let id = || integer(get(&frame, &keys.id));
    let required_id = || id().ok_or_else(|| [&kind, " frame has no integer \"id\""].concat());
    let required_room = || room().ok_or_else(|| [&kind, " frame has no \"room\""].concat());
    let required_seq =
        || integer(get(&frame, &keys.seq)).ok_or_else(|| [&kind, " frame has no \"seq\""].concat());
    let doc_frame = match Kind::from_wire(&kind) {
        Some(Kind::Op) => {
            let (origin, cseq, op) = doc_op(&payload())?;
            Some(DocInbound::Applied {
                doc: required_room()?,
                rev: required_seq()?,
                origin,
                cseq: cseq.ok_or("applied op has no \"cseq\"")?,
                op,
            })
        }
        Some(Kind::Reject) => {
            let body = payload();
            Some(DocInbound::Rejected {
                doc: required_room()?,
                origin: get_str(&body, "origin").ok_or("reject has no \"origin\"")?,
                cseq: integer(get(&body, &"cseq".into())).ok_or("reject has no \"cseq\"")?,
                error: error_body(&get(&body, &keys.error)),
            })
        }
        Some(Kind::Synced) => Some(DocInbound::Synced {
            doc: required_room()?,
            rev: required_seq()?,
        }),
        Some(Kind::Snapshot) => {
            let entries = get(&payload(), &"entries".into());
            let mut parsed = Vec::new();
            if Json::is_object(&entries) {
                for (key, entry) in Json::entries(&entries) {
                    let rev = integer(get(&entry, &"rev".into()))
                        .ok_or("snapshot entry has no \"rev\"")?;
                    parsed.push((key, get(&entry, &"value".into()), rev));
                }
            }
            Some(DocInbound::Snapshot {
                doc: required_room()?,
                rev: required_seq()?,
                entries: parsed,
            })
        }
        _ => None,
    };
    if let Some(doc_frame) = doc_frame {
        return Ok(Decoded::Doc(doc_frame));
    }
    Ok(Decoded::Frame(match Kind::from_wire(&kind) {
        Some(Kind::Msg) => Inbound::Message(payload()),
        Some(Kind::Ping) => Inbound::Ping { id: required_id()? },
        Some(Kind::Pong) => Inbound::Pong { id: required_id()? },
        Some(Kind::Welcome) => Inbound::Welcome(
            super::js_values::welcome(&payload()).ok_or("welcome frame has no valid payload")?,
        ),
        Some(Kind::Res) => {
            let error = get(&frame, &keys.error);
            Inbound::Reply {
                id: required_id()?,
                result: if error.is_object() {
                    Err(error_body(&error))
                } else {
                    Ok(payload())
                },
            }
        }
        Some(Kind::Joined) => {
            let body = payload();
            let members = get(&body, &"members".into());
            let members = if js_sys::Array::is_array(&members) {
                js_sys::Array::from(&members)
                    .iter()
                    .filter_map(|m| member(&m))
                    .collect()
            } else {
                Vec::new()
            };
            Inbound::Joined {
                id: id(),
                room: required_room()?,
                seq: integer(get(&frame, &keys.seq)).ok_or("joined frame has no \"seq\"")?,
                recovered: get(&body, &"recovered".into())
                    .as_bool()
                    .ok_or("joined frame has no boolean \"recovered\"")?,
                members,
            }
        }
        Some(Kind::Left) => Inbound::Left {
            room: required_room()?,
        },
        Some(Kind::Presence) => {
            let body = payload();
            let change = match get_str(&body, "event").as_deref() {
                Some("join") => PresenceChange::Join,
                Some("leave") => PresenceChange::Leave,
                Some("update") => PresenceChange::Update,
                _ => return Err("presence frame has no valid \"event\"".into()),
            };
            Inbound::Presence {
                room: required_room()?,
                change,
                member: member(&get(&body, &"member".into()))
                    .ok_or("presence frame has no valid \"member\"")?,
            }
        }
        Some(Kind::Notify) => Inbound::Notify(payload()),
        Some(Kind::Error) => Inbound::Error {
            id: id(),
            room: room(),
            body: error_body(&get(&frame, &keys.error)),
        },
        // Client-to-server kinds make no sense coming back; report them like unknown ones.
        Some(
            Kind::Hello | Kind::Broadcast | Kind::Req | Kind::Join | Kind::Leave | Kind::Publish,
        )
        | None => Inbound::Unknown { kind },
        // Client-to-server document kinds; the server-to-client ones were handled above.
        Some(
            Kind::Sync | Kind::Synced | Kind::Snapshot | Kind::Unsync | Kind::Op | Kind::Reject,
        ) => Inbound::Unknown { kind },
    }))
}
