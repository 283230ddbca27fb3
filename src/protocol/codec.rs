//! The client's wire codec: decodes every frame the server sends and encodes every frame the
//! client sends, generic over a JSON value type ([`WireValue`]). The browser runs it on JS values
//! (payloads stay JS values: a frame is parsed once with `JSON.parse` and never copied into WASM
//! memory); native tests run it on `serde_json::Value` against what the server writes and reads.
//!
//! Field names are spelled here and in [`field`] only. The one exception is the browser's hot
//! path (`src/browser/glue.js`: `readFrame` classifies plain and room messages, `encodeFrame`
//! builds user frames), which a native test checks against [`field`] and [`FrameClass`].

use super::{
    DocInbound, ErrorBody, ErrorCode, Hello, Inbound, Kind, Member, OpName, PresenceChange, Welcome,
};
use crate::core::Text;
use crate::doc::{Change, Json, Op};

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
}

/// What the browser's `readFrame` (glue.js) reports about a received frame before any field
/// crosses into Rust. The numbers are shared with glue.js's `CLASS` table (checked natively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
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
    /// A `msg` with a room: read by [`decode_room_message`].
    RoomMessage = 2,
}

impl FrameClass {
    pub const ALL: [FrameClass; 6] = [
        FrameClass::Binary,
        FrameClass::NotObject,
        FrameClass::NotJson,
        FrameClass::Envelope,
        FrameClass::Message,
        FrameClass::RoomMessage,
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
    /// A non-negative integer that JSON numbers hold exactly (at most 2^53).
    fn as_u64(&self) -> Option<u64>;
    fn as_bool(&self) -> Option<bool>;
    /// The items of an array; `None` for anything else.
    fn items(&self) -> Option<Vec<Self>>;
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
            DecodeError::Field { kind, field } => Text::new(kind)
                .add(" frame has no valid \"")
                .add(field)
                .add("\"")
                .done(),
        }
    }
}

/// A decoded server frame: for the connection core, or for one of its documents.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame<P> {
    Core(Inbound<P>),
    Doc(DocInbound<P>),
}

/// Reads the fields of one frame of a known kind, naming the kind in its errors.
struct Reader<'a, J> {
    kind: Kind,
    value: &'a J,
}

impl<'a, J: WireValue> Reader<'a, J> {
    fn missing(&self, field: &'static str) -> DecodeError {
        DecodeError::Field {
            kind: self.kind.as_wire(),
            field,
        }
    }

    fn at(&self, value: &'a J) -> Reader<'a, J> {
        Reader {
            kind: self.kind,
            value,
        }
    }

    fn optional(&self, field: &str) -> Option<J> {
        self.value.get(field).filter(|v| !v.is_null())
    }

    fn required(&self, field: &'static str) -> Result<J, DecodeError> {
        self.optional(field).ok_or_else(|| self.missing(field))
    }

    fn optional_u64(&self, field: &'static str) -> Result<Option<u64>, DecodeError> {
        self.optional(field)
            .map(|v| v.as_u64().ok_or_else(|| self.missing(field)))
            .transpose()
    }

    fn u64(&self, field: &'static str) -> Result<u64, DecodeError> {
        self.required(field)?
            .as_u64()
            .ok_or_else(|| self.missing(field))
    }

    fn string(&self, field: &'static str) -> Result<String, DecodeError> {
        self.required(field)?
            .as_string()
            .ok_or_else(|| self.missing(field))
    }

    fn optional_string(&self, field: &'static str) -> Result<Option<String>, DecodeError> {
        self.optional(field)
            .map(|v| v.as_string().ok_or_else(|| self.missing(field)))
            .transpose()
    }

    fn bool(&self, field: &'static str) -> Result<bool, DecodeError> {
        self.required(field)?
            .as_bool()
            .ok_or_else(|| self.missing(field))
    }

    /// The payload, `null` when absent (as user payloads are).
    fn payload(&self) -> J {
        self.value.get(field::PAYLOAD).unwrap_or_else(J::null)
    }

    fn object(&self, field: &'static str) -> Result<J, DecodeError> {
        self.value
            .get(field)
            .filter(Json::is_object)
            .ok_or_else(|| self.missing(field))
    }

    fn error_body(&self) -> Result<ErrorBody, DecodeError> {
        let body = self.at(self.value);
        Ok(ErrorBody {
            code: ErrorCode::from_wire(&body.string(field::CODE)?),
            message: body.optional_string(field::MESSAGE)?.unwrap_or_default(),
        })
    }

    fn member(&self) -> Result<Member<J>, DecodeError> {
        Ok(Member {
            id: self.string(field::ID)?,
            user: self.optional_string(field::USER)?,
            meta: self.optional(field::META),
        })
    }
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
    let r = Reader { kind, value: frame };
    let core = |inbound| Ok(ServerFrame::Core(inbound));
    let doc = |inbound| Ok(ServerFrame::Doc(inbound));
    match kind {
        Kind::Msg => match r.optional(field::ROOM) {
            Some(_) => decode_room_message(frame).map(ServerFrame::Core),
            None => core(Inbound::Message(r.payload())),
        },
        Kind::Welcome => core(Inbound::Welcome(welcome(
            &r.at(&r.object(field::PAYLOAD)?),
        )?)),
        Kind::Ping => core(Inbound::Ping {
            id: r.u64(field::ID)?,
        }),
        Kind::Pong => core(Inbound::Pong {
            id: r.u64(field::ID)?,
        }),
        Kind::Res => {
            let id = r.u64(field::ID)?;
            let result = match r.optional(field::ERROR) {
                Some(error) => Err(r.at(&error).error_body()?),
                None => Ok(r.payload()),
            };
            core(Inbound::Reply { id, result })
        }
        Kind::Joined => {
            let body = r.object(field::PAYLOAD)?;
            let body = r.at(&body);
            let members = body
                .required(field::MEMBERS)?
                .items()
                .ok_or_else(|| r.missing(field::MEMBERS))?;
            core(Inbound::Joined {
                id: r.optional_u64(field::ID)?,
                room: r.string(field::ROOM)?,
                seq: r.u64(field::SEQ)?,
                recovered: body.bool(field::RECOVERED)?,
                members: members
                    .iter()
                    .map(|m| r.at(m).member())
                    .collect::<Result<_, _>>()?,
            })
        }
        Kind::Left => core(Inbound::Left {
            room: r.string(field::ROOM)?,
        }),
        Kind::Presence => {
            let body = r.object(field::PAYLOAD)?;
            let body = r.at(&body);
            let change = match body.string(field::EVENT)?.as_str() {
                "join" => PresenceChange::Join,
                "leave" => PresenceChange::Leave,
                "update" => PresenceChange::Update,
                _ => return Err(r.missing(field::EVENT)),
            };
            let member = body.object(field::MEMBER)?;
            core(Inbound::Presence {
                room: r.string(field::ROOM)?,
                change,
                member: r.at(&member).member()?,
            })
        }
        Kind::Notify => core(Inbound::Notify(r.payload())),
        Kind::Error => core(Inbound::Error {
            id: r.optional_u64(field::ID)?,
            room: r.optional_string(field::ROOM)?,
            body: r.at(&r.object(field::ERROR)?).error_body()?,
        }),
        Kind::Op => {
            let body = r.object(field::PAYLOAD)?;
            let (origin, cseq, op) = decode_op_body(&r.at(&body))?;
            doc(DocInbound::Applied {
                doc: r.string(field::ROOM)?,
                rev: r.u64(field::SEQ)?,
                origin,
                cseq: cseq.ok_or_else(|| r.missing(field::CSEQ))?,
                op,
            })
        }
        Kind::Reject => {
            let body = r.object(field::PAYLOAD)?;
            let body = r.at(&body);
            doc(DocInbound::Rejected {
                doc: r.string(field::ROOM)?,
                origin: body.string(field::ORIGIN)?,
                cseq: body.u64(field::CSEQ)?,
                error: r.at(&body.object(field::ERROR)?).error_body()?,
            })
        }
        Kind::Synced => doc(DocInbound::Synced {
            doc: r.string(field::ROOM)?,
            rev: r.u64(field::SEQ)?,
        }),
        Kind::Snapshot => {
            let body = r.object(field::PAYLOAD)?;
            let entries = r.at(&body).object(field::ENTRIES)?;
            let mut parsed = Vec::new();
            for (key, entry) in entries.entries() {
                let entry = r.at(&entry);
                let value = entry.value.get(field::VALUE).unwrap_or_else(J::null);
                parsed.push((key, value, entry.u64(field::REV)?));
            }
            doc(DocInbound::Snapshot {
                doc: r.string(field::ROOM)?,
                rev: r.u64(field::SEQ)?,
                entries: parsed,
            })
        }
        // Kinds only clients send make no sense coming back: reported like unknown ones.
        Kind::Hello
        | Kind::Broadcast
        | Kind::Req
        | Kind::Join
        | Kind::Leave
        | Kind::Publish
        | Kind::Sync
        | Kind::Unsync => core(Inbound::Unknown { kind: name }),
    }
}

/// Decodes a `msg` frame published to a room (the browser's hot path calls this directly).
pub fn decode_room_message<J: WireValue>(frame: &J) -> Result<Inbound<J>, DecodeError> {
    let r = Reader {
        kind: Kind::Msg,
        value: frame,
    };
    Ok(Inbound::RoomMessage {
        room: r.string(field::ROOM)?,
        seq: r.u64(field::SEQ)?,
        payload: r.payload(),
    })
}

fn welcome<J: WireValue>(body: &Reader<'_, J>) -> Result<Welcome, DecodeError> {
    Ok(Welcome {
        version: u32::try_from(body.u64(field::VERSION)?)
            .map_err(|_| body.missing(field::VERSION))?,
        session: body.string(field::SESSION)?,
        token: body.optional_string(field::TOKEN)?.unwrap_or_default(),
        resumed: body
            .optional(field::RESUMED)
            .map(|r| r.as_bool().ok_or_else(|| body.missing(field::RESUMED)))
            .transpose()?
            .unwrap_or(false),
    })
}

/// Reads an op body `{origin, cseq?, key, op, value?, ifRev?}`.
fn decode_op_body<J: WireValue>(
    body: &Reader<'_, J>,
) -> Result<(String, Option<u64>, Op<J>), DecodeError> {
    let value = || body.value.get(field::VALUE).unwrap_or_else(J::null);
    let change = match OpName::from_wire(&body.string(field::OP)?) {
        Some(OpName::Set) => Change::Set(value()),
        Some(OpName::Merge) => Change::Merge(value()),
        Some(OpName::Delete) => Change::Delete,
        None => return Err(body.missing(field::OP)),
    };
    Ok((
        body.string(field::ORIGIN)?,
        body.optional_u64(field::CSEQ)?,
        Op {
            key: body.string(field::KEY)?,
            change,
            if_rev: body.optional_u64(field::IF_REV)?,
        },
    ))
}

/// Reads an op body `{origin, cseq?, key, op, value?, ifRev?}`: also how saved pending ops are
/// read back.
pub fn read_op_body<J: WireValue>(body: &J) -> Result<(String, Option<u64>, Op<J>), DecodeError> {
    decode_op_body(&Reader {
        kind: Kind::Op,
        value: body,
    })
}

/// Writes an op body `{origin, cseq?, key, op, value?, ifRev?}`.
pub fn write_op_body<J: WireValue>(origin: &str, cseq: Option<u64>, op: &Op<J>) -> J {
    let mut body = J::empty_object();
    body.insert(field::ORIGIN, J::string(origin));
    if let Some(cseq) = cseq {
        body.insert(field::CSEQ, J::number(cseq));
    }
    body.insert(field::KEY, J::string(&op.key));
    let (name, value) = match &op.change {
        Change::Set(v) => (OpName::Set, Some(v)),
        Change::Merge(v) => (OpName::Merge, Some(v)),
        Change::Delete => (OpName::Delete, None),
    };
    body.insert(field::OP, J::string(name.as_wire()));
    if let Some(value) = value {
        body.insert(field::VALUE, value.clone());
    }
    if let Some(rev) = op.if_rev {
        body.insert(field::IF_REV, J::number(rev));
    }
    body
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
        meta: Option<J>,
    },
    Leave {
        id: u64,
        room: &'a str,
    },
    Publish {
        room: &'a str,
        payload: J,
    },
    Presence {
        room: &'a str,
        meta: J,
    },
    Sync {
        id: u64,
        doc: &'a str,
        since: Option<u64>,
    },
    Unsync {
        id: u64,
        doc: &'a str,
    },
    /// A document op; `cseq` is the client's op sequence number, carried as the envelope's `seq`.
    Op {
        doc: &'a str,
        cseq: u64,
        origin: &'a str,
        op: &'a Op<J>,
    },
}

/// Builds an envelope object with the given optional fields.
fn envelope<J: WireValue>(kind: Kind, id: Option<u64>, room: Option<&str>, seq: Option<u64>) -> J {
    let mut frame = J::empty_object();
    frame.insert(field::KIND, J::string(kind.as_wire()));
    if let Some(id) = id {
        frame.insert(field::ID, J::number(id));
    }
    if let Some(room) = room {
        frame.insert(field::ROOM, J::string(room));
    }
    if let Some(seq) = seq {
        frame.insert(field::SEQ, J::number(seq));
    }
    frame
}

fn with_payload<J: WireValue>(mut frame: J, payload: J) -> J {
    frame.insert(field::PAYLOAD, payload);
    frame
}

/// An object with the fields that are present.
fn object<J: WireValue, const N: usize>(fields: [(&str, Option<J>); N]) -> J {
    let mut object = J::empty_object();
    for (name, value) in fields {
        if let Some(value) = value {
            object.insert(name, value);
        }
    }
    object
}

/// Encodes a client frame as the JSON value to stringify and send.
pub fn encode_client_frame<J: WireValue>(frame: ClientFrame<'_, J>) -> J {
    match frame {
        ClientFrame::Hello(hello) => {
            let mut body = J::empty_object();
            body.insert(field::VERSION, J::number(u64::from(hello.version)));
            if let Some(user) = &hello.user {
                body.insert(field::USER, J::string(user));
            }
            if let Some(resume) = &hello.resume {
                let resume = object([
                    (field::SESSION, Some(J::string(&resume.session))),
                    (field::TOKEN, Some(J::string(&resume.token))),
                ]);
                body.insert(field::RESUME, resume);
            }
            with_payload(envelope(Kind::Hello, None, None, None), body)
        }
        ClientFrame::Ping { id } => envelope(Kind::Ping, Some(id), None, None),
        ClientFrame::Pong { id } => envelope(Kind::Pong, Some(id), None, None),
        ClientFrame::Msg { payload } => {
            with_payload(envelope(Kind::Msg, None, None, None), payload)
        }
        ClientFrame::Broadcast { payload } => {
            with_payload(envelope(Kind::Broadcast, None, None, None), payload)
        }
        ClientFrame::Req { id, method, params } => with_payload(
            envelope(Kind::Req, Some(id), None, None),
            object([
                (field::METHOD, Some(J::string(method))),
                (field::PARAMS, params),
            ]),
        ),
        ClientFrame::Join {
            id,
            room,
            since,
            meta,
        } => with_payload(
            envelope(Kind::Join, Some(id), Some(room), None),
            object([(field::SINCE, since.map(J::number)), (field::META, meta)]),
        ),
        ClientFrame::Leave { id, room } => envelope(Kind::Leave, Some(id), Some(room), None),
        ClientFrame::Publish { room, payload } => {
            with_payload(envelope(Kind::Publish, None, Some(room), None), payload)
        }
        ClientFrame::Presence { room, meta } => with_payload(
            envelope(Kind::Presence, None, Some(room), None),
            object([(field::META, Some(meta))]),
        ),
        ClientFrame::Sync { id, doc, since } => with_payload(
            envelope(Kind::Sync, Some(id), Some(doc), None),
            object([(field::SINCE, since.map(J::number))]),
        ),
        ClientFrame::Unsync { id, doc } => envelope(Kind::Unsync, Some(id), Some(doc), None),
        ClientFrame::Op {
            doc,
            cseq,
            origin,
            op,
        } => with_payload(
            envelope(Kind::Op, None, Some(doc), Some(cseq)),
            write_op_body(origin, None, op),
        ),
    }
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
        assert_eq!(FrameClass::from_code(3), None);
    }

    #[test]
    fn the_browser_hot_path_spells_the_same_names_and_classes() {
        let glue = include_str!("../browser/glue.js");
        let names = [
            ("KIND", field::KIND),
            ("ROOM", field::ROOM),
            ("PAYLOAD", field::PAYLOAD),
            ("MSG", Kind::Msg.as_wire()),
        ];
        for (constant, name) in names {
            let spelled = format!("{constant} = \"{name}\"");
            assert!(glue.contains(&spelled), "glue.js should say {spelled}");
        }
        let classes: Vec<String> = FrameClass::ALL
            .iter()
            .map(|class| format!("{class:?}: {}", *class as i32))
            .collect();
        let table = format!("const CLASS = {{ {} }};", classes.join(", "));
        assert!(glue.contains(&table), "glue.js should say {table}");
    }

    #[test]
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
