//! The client's wire codec: decodes every frame the server sends and encodes every frame the
//! client sends, generic over a JSON value type ([`WireValue`]). The browser runs it on JS values
//! (payloads stay JS values: a frame is parsed once with `JSON.parse` and never copied into WASM
//! memory); native tests run it on `serde_json::Value` against what the server writes and reads.
//!
//! Field names are spelled here and in [`field`] only. The one exception is the browser's hot
//! path (`js/wasm/wire.ts`: `readFrame` classifies plain and room messages, `encodeFrame`
//! builds user frames), which a native test checks against [`field`] and [`FrameClass`].

use super::{ErrorBody, ErrorCode, Hello, Inbound, Kind, Member, PresenceChange, Welcome};
use crate::doc::Json;
use alloc::{string::String, vec::Vec};
use core::cell::Cell;
#[cfg(feature = "docs")]
use {
    super::{DocInbound, OpName},
    crate::doc::{Change, Op},
};

/// The envelope's and the bodies' field names on the wire.
pub mod field {
    pub const KIND: &str = "kind";
    pub const ID: &str = "id";
    pub const ROOM: &str = "room";
    pub const SEQ: &str = "seq";
    pub const PAYLOAD: &str = "payload";
    pub const ERROR: &str = "error";
    pub const CODE: &str = "code";
    pub const MESSAGE: &str = "message";
    pub const VERSION: &str = "version";
    pub const USER: &str = "user";
    pub const RESUME: &str = "resume";
    pub const SESSION: &str = "session";
    pub const TOKEN: &str = "token";
    pub const RESUMED: &str = "resumed";
    pub const METHOD: &str = "method";
    pub const PARAMS: &str = "params";
    pub const SINCE: &str = "since";
    pub const HISTORY: &str = "history";
    pub const META: &str = "meta";
    pub const RECOVERED: &str = "recovered";
    pub const MEMBERS: &str = "members";
    pub const EVENT: &str = "event";
    pub const MEMBER: &str = "member";
    pub const ORIGIN: &str = "origin";
    pub const CSEQ: &str = "cseq";
    pub const KEY: &str = "key";
    pub const OP: &str = "op";
    pub const VALUE: &str = "value";
    pub const IF_REV: &str = "ifRev";
    pub const ENTRIES: &str = "entries";
    pub const REV: &str = "rev";
    pub const EXPIRES_IN: &str = "expiresIn";
    pub const REQUEST_WINDOW: &str = "requestWindow";
    pub const EPOCH: &str = "epoch";
}

/// What the browser's `readFrame` (js/wasm/wire.ts) reports about a received frame before any
/// field crosses into Rust. wire.ts's class constants are these numbers plus 4 (checked natively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// Over the client's `max_inbound_bytes`: dropped without being parsed.
    TooLarge = -4,
    /// A binary frame: not part of the protocol.
    Binary = -3,
    /// Valid JSON, but not an object.
    NotObject = -2,
    /// Not valid JSON.
    NotJson = -1,
    /// An envelope of any kind but `msg`: decoded by [`decode_server_frame`].
    Envelope = 0,
    /// A `msg` without a room: only its payload is read.
    Message = 1,
    /// A `msg` with a room whose envelope `readFrame` checked as [`decode_room_message`] would:
    /// its room, seq, user and payload are read directly.
    RoomMessage = 2,
    /// A `res` without `error`, with a valid `id`, checked by `readFrame`: its id and payload
    /// are read directly.
    Reply = 3,
}

impl FrameClass {
    pub const ALL: [FrameClass; 8] = [
        FrameClass::TooLarge,
        FrameClass::Binary,
        FrameClass::NotObject,
        FrameClass::NotJson,
        FrameClass::Envelope,
        FrameClass::Message,
        FrameClass::RoomMessage,
        FrameClass::Reply,
    ];

    pub fn from_code(code: i32) -> Option<FrameClass> {
        FrameClass::ALL.into_iter().find(|c| *c as i32 == code)
    }

    /// The reason a frame of this class is not an envelope, if it is not.
    pub fn malformed(self) -> Option<DecodeError> {
        match self {
            FrameClass::Binary => Some(DecodeError::Binary),
            FrameClass::NotObject => Some(DecodeError::NotObject),
            FrameClass::NotJson => Some(DecodeError::NotJson),
            // Reported by the core with its size (`ClientCore::inbound_too_large`), never decoded.
            FrameClass::TooLarge => Some(DecodeError::NotJson),
            _ => None,
        }
    }
}

/// The JSON operations the codec needs on top of the document model's [`Json`].
pub trait WireValue: Json {
    fn string(text: &str) -> Self;
    fn number(n: u64) -> Self;
    fn boolean(b: bool) -> Self;
    fn array(items: Vec<Self>) -> Self;
    fn as_string(&self) -> Option<String>;
    /// True for a string: checked without copying it (the hot path keeps strings as values).
    fn is_string(&self) -> bool;
    /// A non-negative integer that JSON numbers hold exactly (at most 2^53).
    fn as_u64(&self) -> Option<u64>;
    fn as_bool(&self) -> Option<bool>;
    /// The length of an array; `None` for anything else.
    fn item_count(&self) -> Option<usize>;
    /// Item `index` (below `item_count`) of an array.
    fn item(&self, index: usize) -> Self;
}

/// Largest integer every JSON implementation holds exactly (JS numbers): 2^53.
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Why a received frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Binary,
    NotJson,
    NotObject,
    /// The envelope has no string `kind`.
    NoKind,
    /// A field of a `kind` frame (or of its payload) is missing or has the wrong type.
    Field {
        kind: &'static str,
        field: &'static str,
    },
}

impl DecodeError {
    /// A human-readable reason, built without `core::fmt` (WASM size).
    pub fn reason(&self) -> String {
        match self {
            DecodeError::Binary => "binary frames are not part of the protocol".into(),
            DecodeError::NotJson => "frame is not valid JSON".into(),
            DecodeError::NotObject => "frame is not a JSON object".into(),
            DecodeError::NoKind => "frame has no string \"kind\"".into(),
            DecodeError::Field { kind, field } => {
                // `push_str`, not `concat`: its generic join has no other use in the WASM.
                let mut reason = String::from(*kind);
                for part in [" frame has no valid \"", field, "\""] {
                    reason.push_str(part);
                }
                reason
            }
        }
    }
}

/// A decoded server frame: for the connection core, or for one of its documents.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame<P> {
    Core(Inbound<P>),
    #[cfg(feature = "docs")]
    Doc(DocInbound<P>),
}

/// Reads fields of one frame. A read never stops the decoding: a missing or invalid field gives a
/// placeholder (0, "", null) and the first such field is remembered, so the frame decoded so far
/// is dropped once at the end rather than on one early-return path per field (WASM size).
struct Reader<'a, J> {
    value: &'a J,
    bad: &'a Cell<Option<&'static str>>,
}

impl<'a, J: WireValue> Reader<'a, J> {
    fn at<'b>(&self, value: &'b J) -> Reader<'b, J>
    where
        'a: 'b,
    {
        Reader {
            value,
            bad: self.bad,
        }
    }

    /// Remembers `field` as the one that failed, unless one already did.
    fn fail(&self, field: &'static str) {
        if self.bad.get().is_none() {
            self.bad.set(Some(field));
        }
    }

    /// `value`, or the default after remembering `field` as failed.
    fn check<T: Default>(&self, field: &'static str, value: Option<T>) -> T {
        value.unwrap_or_else(|| {
            self.fail(field);
            T::default()
        })
    }

    /// A present, non-null field; its absence is no failure.
    fn get(&self, field: &'static str) -> Option<J> {
        self.value.get(field).filter(|v| !v.is_null())
    }

    /// `None` when absent, and also when present but not read by `read` (a failure).
    fn optional<T>(&self, field: &'static str, read: fn(&J) -> Option<T>) -> Option<T> {
        let value = read(&self.get(field)?);
        if value.is_none() {
            self.fail(field);
        }
        value
    }

    fn u64(&self, field: &'static str) -> u64 {
        self.check(field, self.get(field).and_then(|v| v.as_u64()))
    }

    fn string(&self, field: &'static str) -> String {
        self.check(field, self.get(field).and_then(|v| v.as_string()))
    }

    fn bool(&self, field: &'static str) -> bool {
        self.check(field, self.get(field).and_then(|v| v.as_bool()))
    }

    /// An object field; null when it fails.
    fn object(&self, field: &'static str) -> J {
        match self.get(field).filter(Json::is_object) {
            Some(object) => object,
            None => {
                self.fail(field);
                J::null()
            }
        }
    }

    /// The payload, `null` when absent (as user payloads are).
    fn payload(&self) -> J {
        self.value.get(field::PAYLOAD).unwrap_or_else(J::null)
    }

    fn error_body(&self) -> ErrorBody {
        ErrorBody {
            code: ErrorCode::from_wire(&self.string(field::CODE)),
            message: self
                .optional(field::MESSAGE, J::as_string)
                .unwrap_or_default(),
        }
    }

    fn member(&self) -> Member<J> {
        Member {
            id: self.string(field::ID),
            user: self.optional(field::USER, J::as_string),
            meta: self.get(field::META),
        }
    }

    fn welcome(&self) -> Welcome {
        Welcome {
            version: self.check(field::VERSION, u32::try_from(self.u64(field::VERSION)).ok()),
            session: self.string(field::SESSION),
            token: self
                .optional(field::TOKEN, J::as_string)
                .unwrap_or_default(),
            resumed: self.optional(field::RESUMED, J::as_bool).unwrap_or(false),
            origin: self.optional(field::ORIGIN, J::as_string),
            expires_in: self.optional(field::EXPIRES_IN, J::as_u64),
            request_window: self.optional(field::REQUEST_WINDOW, J::as_u64),
        }
    }

    /// An op body `{origin, cseq?, key, op, value?, ifRev?}`.
    #[cfg(feature = "docs")]
    fn op_body(&self) -> (String, Option<u64>, Op<J>) {
        let value = || self.value.get(field::VALUE).unwrap_or_else(J::null);
        let change = match OpName::from_wire(&self.string(field::OP)) {
            Some(OpName::Set) => Change::Set(value()),
            Some(OpName::Merge) => Change::Merge(value()),
            Some(OpName::Delete) => Change::Delete,
            None => {
                self.fail(field::OP);
                Change::Delete
            }
        };
        (
            self.string(field::ORIGIN),
            self.optional(field::CSEQ, J::as_u64),
            Op {
                key: self.string(field::KEY),
                change,
                if_rev: self.optional(field::IF_REV, J::as_u64),
            },
        )
    }

    /// The stream epoch of a `joined`, `snapshot` or `synced` body (absent from servers that
    /// predate epochs).
    fn epoch(&self) -> Option<String> {
        self.optional(field::EPOCH, J::as_string)
    }

    /// What was read, or the error naming the first field that failed.
    fn result<T>(&self, kind: Kind, read: T) -> Result<T, DecodeError> {
        match self.bad.get() {
            None => Ok(read),
            Some(field) => Err(DecodeError::Field {
                kind: kind.as_wire(),
                field,
            }),
        }
    }
}

/// Runs `read` on a reader of `value`.
fn read<J: WireValue, T>(
    value: &J,
    kind: Kind,
    read: impl FnOnce(&Reader<'_, J>) -> T,
) -> Result<T, DecodeError> {
    let bad = Cell::new(None);
    let reader = Reader { value, bad: &bad };
    let read = read(&reader);
    reader.result(kind, read)
}

/// Decodes a received envelope (a parsed JSON object).
pub fn decode_server_frame<J: WireValue>(frame: &J) -> Result<ServerFrame<J>, DecodeError> {
    let name = frame
        .get(field::KIND)
        .and_then(|k| k.as_string())
        .ok_or(DecodeError::NoKind)?;
    let Some(kind) = Kind::from_wire(&name) else {
        return Ok(ServerFrame::Core(Inbound::Unknown { kind: name }));
    };
    read(frame, kind, |r| decode_known(kind, name, r))
}

fn decode_known<J: WireValue>(kind: Kind, name: String, r: &Reader<'_, J>) -> ServerFrame<J> {
    use ServerFrame::Core;
    #[cfg(feature = "docs")]
    use ServerFrame::Doc;
    match kind {
        Kind::Msg => match r.get(field::ROOM) {
            Some(_) => Core(room_message(r)),
            None => Core(Inbound::Message(r.payload())),
        },
        Kind::Welcome => Core(Inbound::Welcome(r.at(&r.object(field::PAYLOAD)).welcome())),
        Kind::Ping => Core(Inbound::Ping {
            id: r.u64(field::ID),
        }),
        Kind::Pong => Core(Inbound::Pong {
            id: r.u64(field::ID),
        }),
        Kind::Res => {
            let id = r.u64(field::ID);
            let result = match r.get(field::ERROR) {
                Some(error) => Err(r.at(&error).error_body()),
                None => Ok(r.payload()),
            };
            Core(Inbound::Reply { id, result })
        }
        Kind::Joined => {
            let body = r.object(field::PAYLOAD);
            let body = r.at(&body);
            let items = body.get(field::MEMBERS).unwrap_or_else(J::null);
            let mut members = Vec::new();
            match items.item_count() {
                Some(count) => {
                    for i in 0..count {
                        members.push(r.at(&items.item(i)).member());
                    }
                }
                None => r.fail(field::MEMBERS),
            }
            Core(Inbound::Joined {
                id: r.optional(field::ID, J::as_u64),
                room: r.string(field::ROOM),
                seq: r.u64(field::SEQ),
                recovered: body.bool(field::RECOVERED),
                epoch: body.epoch(),
                members,
            })
        }
        Kind::Left => Core(Inbound::Left {
            room: r.string(field::ROOM),
        }),
        Kind::Presence => {
            let body = r.object(field::PAYLOAD);
            let body = r.at(&body);
            let change = match body.string(field::EVENT).as_str() {
                "join" => PresenceChange::Join,
                "leave" => PresenceChange::Leave,
                "update" => PresenceChange::Update,
                _ => {
                    r.fail(field::EVENT);
                    PresenceChange::Update
                }
            };
            Core(Inbound::Presence {
                room: r.string(field::ROOM),
                change,
                member: r.at(&body.object(field::MEMBER)).member(),
            })
        }
        Kind::Notify => Core(Inbound::Notify(r.payload())),
        Kind::Refreshed => Core(Inbound::Refreshed {
            id: r.u64(field::ID),
            // The payload is optional: without one, the token does not expire.
            expires_in: r.at(&r.payload()).optional(field::EXPIRES_IN, J::as_u64),
        }),
        Kind::Error => Core(Inbound::Error {
            id: r.optional(field::ID, J::as_u64),
            room: r.optional(field::ROOM, J::as_string),
            body: r.at(&r.object(field::ERROR)).error_body(),
        }),
        #[cfg(feature = "docs")]
        Kind::Op => {
            let (origin, cseq, op) = r.at(&r.object(field::PAYLOAD)).op_body();
            Doc(DocInbound::Applied {
                doc: r.string(field::ROOM),
                rev: r.u64(field::SEQ),
                origin,
                cseq: r.check(field::CSEQ, cseq),
                op,
            })
        }
        #[cfg(feature = "docs")]
        Kind::Reject => {
            let body = r.object(field::PAYLOAD);
            let body = r.at(&body);
            Doc(DocInbound::Rejected {
                doc: r.string(field::ROOM),
                origin: body.string(field::ORIGIN),
                cseq: body.u64(field::CSEQ),
                error: r.at(&body.object(field::ERROR)).error_body(),
            })
        }
        #[cfg(feature = "docs")]
        Kind::Synced => Doc(DocInbound::Synced {
            doc: r.string(field::ROOM),
            rev: r.u64(field::SEQ),
            epoch: r.at(&r.payload()).epoch(),
        }),
        #[cfg(feature = "docs")]
        Kind::Snapshot => {
            let body = r.object(field::PAYLOAD);
            let entries = r.at(&body).object(field::ENTRIES);
            let mut parsed = Vec::new();
            for (key, entry) in entries.entries() {
                let value = entry.get(field::VALUE).unwrap_or_else(J::null);
                parsed.push((key, value, r.at(&entry).u64(field::REV)));
            }
            Doc(DocInbound::Snapshot {
                doc: r.string(field::ROOM),
                rev: r.u64(field::SEQ),
                epoch: r.at(&body).epoch(),
                entries: parsed,
            })
        }
        // Without documents, their frames (which only come after this client's `sync`) are
        // unknown to this client: reported as such, not decoded.
        #[cfg(not(feature = "docs"))]
        Kind::Op | Kind::Reject | Kind::Synced | Kind::Snapshot => {
            Core(Inbound::Unknown { kind: name })
        }
        // Kinds only clients send make no sense coming back: reported like unknown ones.
        Kind::Hello
        | Kind::Broadcast
        | Kind::Req
        | Kind::Join
        | Kind::Leave
        | Kind::Publish
        | Kind::Sync
        | Kind::Unsync
        | Kind::Refresh => Core(Inbound::Unknown { kind: name }),
    }
}

fn room_message<J: WireValue>(r: &Reader<'_, J>) -> Inbound<J> {
    Inbound::RoomMessage {
        room: r.string(field::ROOM),
        seq: r.u64(field::SEQ),
        payload: r.payload(),
        user: r.optional(field::USER, user_id),
    }
}

/// A stamped author is a string, kept as the decoder's value.
fn user_id<J: WireValue>(value: &J) -> Option<J> {
    value.is_string().then(|| value.clone())
}

/// Decodes a `msg` frame published to a room (the browser's hot path calls this directly).
pub fn decode_room_message<J: WireValue>(frame: &J) -> Result<Inbound<J>, DecodeError> {
    read(frame, Kind::Msg, room_message)
}

/// Reads an op body `{origin, cseq?, key, op, value?, ifRev?}`: also how saved pending ops are
/// read back.
#[cfg(feature = "docs")]
pub fn read_op_body<J: WireValue>(body: &J) -> Result<(String, Option<u64>, Op<J>), DecodeError> {
    read(body, Kind::Op, |r| r.op_body())
}

/// Writes an op body `{origin, cseq?, key, op, value?, ifRev?}`.
#[cfg(feature = "docs")]
pub fn write_op_body<J: WireValue>(origin: &str, cseq: Option<u64>, op: &Op<J>) -> J {
    let (name, value) = match &op.change {
        Change::Set(v) => (OpName::Set, Some(v.clone())),
        Change::Merge(v) => (OpName::Merge, Some(v.clone())),
        Change::Delete => (OpName::Delete, None),
    };
    object(&mut [
        (field::ORIGIN, Some(J::string(origin))),
        (field::CSEQ, cseq.map(J::number)),
        (field::KEY, Some(J::string(&op.key))),
        (field::OP, Some(J::string(name.as_wire()))),
        (field::VALUE, value),
        (field::IF_REV, op.if_rev.map(J::number)),
    ])
}

/// Every frame a client sends. Payloads are values of the encoder's type.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame<'a, J> {
    Hello(&'a Hello),
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
    Msg {
        payload: J,
    },
    Broadcast {
        payload: J,
    },
    Req {
        id: u64,
        method: &'a str,
        params: Option<J>,
    },
    Join {
        id: u64,
        room: &'a str,
        since: Option<u64>,
        /// The epoch `since` counts in.
        epoch: Option<&'a str>,
        history: Option<u64>,
        meta: Option<J>,
    },
    Leave {
        id: u64,
        room: &'a str,
    },
    /// `id` asks for an acknowledgement (`res` with the message's seq) and makes the publish
    /// take effect once per session, like a request.
    Publish {
        id: Option<u64>,
        room: &'a str,
        payload: J,
    },
    Presence {
        room: &'a str,
        meta: J,
    },
    #[cfg(feature = "docs")]
    Sync {
        id: u64,
        doc: &'a str,
        since: Option<u64>,
        /// The epoch `since` counts in.
        epoch: Option<&'a str>,
    },
    #[cfg(feature = "docs")]
    Unsync {
        id: u64,
        doc: &'a str,
    },
    Refresh {
        id: u64,
        token: &'a str,
    },
    /// A document op; `cseq` is the client's op sequence number, carried as the envelope's `seq`.
    #[cfg(feature = "docs")]
    Op {
        doc: &'a str,
        cseq: u64,
        origin: &'a str,
        op: &'a Op<J>,
    },
}

/// An object with the fields that are present.
fn object<J: WireValue>(fields: &mut [(&str, Option<J>)]) -> J {
    let mut object = J::empty_object();
    for (name, value) in fields {
        if let Some(value) = value.take() {
            object.insert(name, value);
        }
    }
    object
}

/// Encodes a client frame as the JSON value to stringify and send.
pub fn encode_client_frame<J: WireValue>(frame: ClientFrame<'_, J>) -> J {
    let (kind, id, room, seq, payload) = match frame {
        ClientFrame::Hello(hello) => {
            let resume = hello.resume.as_ref().map(|resume| {
                object(&mut [
                    (field::SESSION, Some(J::string(&resume.session))),
                    (field::TOKEN, Some(J::string(&resume.token))),
                ])
            });
            let body = object(&mut [
                (field::VERSION, Some(J::number(u64::from(hello.version)))),
                (field::USER, hello.user.as_deref().map(J::string)),
                (field::RESUME, resume),
                (field::TOKEN, hello.token.as_deref().map(J::string)),
            ]);
            (Kind::Hello, None, None, None, Some(body))
        }
        ClientFrame::Ping { id } => (Kind::Ping, Some(id), None, None, None),
        ClientFrame::Pong { id } => (Kind::Pong, Some(id), None, None, None),
        ClientFrame::Msg { payload } => (Kind::Msg, None, None, None, Some(payload)),
        ClientFrame::Broadcast { payload } => (Kind::Broadcast, None, None, None, Some(payload)),
        ClientFrame::Req { id, method, params } => {
            let body = object(&mut [
                (field::METHOD, Some(J::string(method))),
                (field::PARAMS, params),
            ]);
            (Kind::Req, Some(id), None, None, Some(body))
        }
        ClientFrame::Join {
            id,
            room,
            since,
            epoch,
            history,
            meta,
        } => {
            let body = object(&mut [
                (field::SINCE, since.map(J::number)),
                (field::EPOCH, epoch.map(J::string)),
                (field::HISTORY, history.map(J::number)),
                (field::META, meta),
            ]);
            (Kind::Join, Some(id), Some(room), None, Some(body))
        }
        ClientFrame::Leave { id, room } => (Kind::Leave, Some(id), Some(room), None, None),
        ClientFrame::Publish { id, room, payload } => {
            (Kind::Publish, id, Some(room), None, Some(payload))
        }
        ClientFrame::Presence { room, meta } => {
            let body = object(&mut [(field::META, Some(meta))]);
            (Kind::Presence, None, Some(room), None, Some(body))
        }
        #[cfg(feature = "docs")]
        ClientFrame::Sync {
            id,
            doc,
            since,
            epoch,
        } => {
            let body = object(&mut [
                (field::SINCE, since.map(J::number)),
                (field::EPOCH, epoch.map(J::string)),
            ]);
            (Kind::Sync, Some(id), Some(doc), None, Some(body))
        }
        #[cfg(feature = "docs")]
        ClientFrame::Unsync { id, doc } => (Kind::Unsync, Some(id), Some(doc), None, None),
        ClientFrame::Refresh { id, token } => {
            let body = object(&mut [(field::TOKEN, Some(J::string(token)))]);
            (Kind::Refresh, Some(id), None, None, Some(body))
        }
        #[cfg(feature = "docs")]
        ClientFrame::Op {
            doc,
            cseq,
            origin,
            op,
        } => {
            let body = write_op_body(origin, None, op);
            (Kind::Op, None, Some(doc), Some(cseq), Some(body))
        }
    };
    object(&mut [
        (field::KIND, Some(J::string(kind.as_wire()))),
        (field::ID, id.map(J::number)),
        (field::ROOM, room.map(J::string)),
        (field::SEQ, seq.map(J::number)),
        (field::PAYLOAD, payload),
    ])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn decode(value: Value) -> Result<ServerFrame<Value>, DecodeError> {
        decode_server_frame(&value)
    }

    #[test]
    fn missing_and_mistyped_fields_name_the_kind_and_field() {
        assert_eq!(
            decode(json!({"kind": "ping"})),
            Err(DecodeError::Field {
                kind: "ping",
                field: "id"
            })
        );
        assert_eq!(
            decode(json!({"kind": "msg", "room": "r", "seq": -1})),
            Err(DecodeError::Field {
                kind: "msg",
                field: "seq"
            })
        );
        assert_eq!(decode(json!({"id": 1})), Err(DecodeError::NoKind));
        assert_eq!(
            DecodeError::Field {
                kind: "ping",
                field: "id"
            }
            .reason(),
            "ping frame has no valid \"id\""
        );
    }

    #[test]
    fn integers_beyond_what_json_numbers_hold_exactly_are_refused() {
        let unsafe_seq = MAX_SAFE_INTEGER + 2;
        assert!(decode(json!({"kind": "msg", "room": "r", "seq": unsafe_seq})).is_err());
        assert!(decode(json!({"kind": "msg", "room": "r", "seq": 1.5})).is_err());
    }

    #[test]
    fn frame_classes_round_trip_through_their_codes() {
        for class in FrameClass::ALL {
            assert_eq!(FrameClass::from_code(class as i32), Some(class));
        }
        assert_eq!(FrameClass::from_code(4), None);
    }

    #[test]
    fn the_browser_hot_path_spells_the_same_names_and_classes() {
        let wire = include_str!("../../js/wasm/wire.ts");
        let names = [
            ("KIND", field::KIND),
            ("ROOM", field::ROOM),
            ("PAYLOAD", field::PAYLOAD),
            ("SEQ", field::SEQ),
            ("USER", field::USER),
            ("ID", field::ID),
            ("ERROR", field::ERROR),
            ("MSG", Kind::Msg.as_wire()),
            ("RES", Kind::Res.as_wire()),
        ];
        for (constant, name) in names {
            let spelled = format!("{constant} = \"{name}\"");
            assert!(wire.contains(&spelled), "wire.ts should say {spelled}");
        }
        // `TooLarge` is `TOO_LARGE`, offset by 4 so that no class is negative.
        for class in FrameClass::ALL {
            let mut constant = String::new();
            for c in format!("{class:?}").chars() {
                if c.is_ascii_uppercase() && !constant.is_empty() {
                    constant.push('_');
                }
                constant.push(c.to_ascii_uppercase());
            }
            let spelled = format!("{constant} = {}", class as i32 + 4);
            assert!(wire.contains(&spelled), "wire.ts should say {spelled}");
        }
    }

    #[test]
    #[cfg(not(feature = "docs"))]
    fn document_frames_are_unknown_kinds_without_documents() {
        for kind in ["op", "reject", "synced", "snapshot"] {
            let frame = json!({"kind": kind, "room": "d", "seq": 1, "payload": {}});
            let unknown = Inbound::Unknown { kind: kind.into() };
            assert_eq!(decode(frame), Ok(ServerFrame::Core(unknown)));
        }
    }

    #[test]
    #[cfg(feature = "docs")]
    fn op_bodies_read_back_what_was_written() {
        let ops = [
            Change::Set(json!({"x": 1})),
            Change::Merge(Value::Null),
            Change::Delete,
        ];
        for (i, change) in ops.into_iter().enumerate() {
            let op = Op {
                key: "k".into(),
                change,
                if_rev: (i > 0).then_some(i as u64),
            };
            let cseq = (i > 1).then_some(9);
            let body = write_op_body("c-1", cseq, &op);
            assert_eq!(read_op_body(&body), Ok(("c-1".to_owned(), cseq, op)));
        }
    }
}
