//! Invariant checks shared by the fuzz targets (`cargo +nightly fuzz run <target>`) and their
//! stable proptest equivalents (`tests/long_proptest.rs`). Each check takes fuzzer input and
//! panics when an invariant of the protocol or the document model breaks; "no panic" alone is
//! never the whole check.

mod hello;
mod session;

pub use hello::{hello, HelloInput};
pub use session::{server_session, Step};

use arbitrary::Arbitrary;
use resocket::doc::{apply, merge_patch, Change, Doc, Json, Op, Rejection};
use resocket::protocol::codec::{
    decode_server_frame, encode_client_frame, ClientFrame, DecodeError, ServerFrame,
    MAX_SAFE_INTEGER,
};
use resocket::protocol::{DocInbound, Inbound};
use resocket_server::protocol::dispatch::{self, Action};
use serde_json::{Map, Value};

/// Frames larger than this are refused by the server before they are read.
pub(crate) const MAX_FRAME: usize = 64 * 1024;
/// The server's longest document key, in bytes.
const MAX_KEY: usize = 1024;
/// How deep generated JSON goes (the decoders must cope with any depth serde_json accepts).
const MAX_DEPTH: usize = 6;

/// A JSON value the fuzzer builds, with keys that matter to JS (`__proto__`) and to the protocol.
#[derive(Arbitrary, Debug, Clone)]
pub enum JsonInput {
    Null,
    Bool(bool),
    Int(u64),
    Float(f64),
    Str(String),
    Arr(Vec<JsonInput>),
    Obj(Vec<(KeyInput, JsonInput)>),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum KeyInput {
    Proto,
    Constructor,
    Kind,
    Payload,
    Short(u8),
    Any(String),
}

impl KeyInput {
    fn name(&self) -> String {
        match self {
            KeyInput::Proto => "__proto__".into(),
            KeyInput::Constructor => "constructor".into(),
            KeyInput::Kind => "kind".into(),
            KeyInput::Payload => "payload".into(),
            KeyInput::Short(n) => char::from(b'a' + n % 4).to_string(),
            KeyInput::Any(s) => s.clone(),
        }
    }
}

impl JsonInput {
    pub fn to_value(&self) -> Value {
        self.to_value_at(0)
    }

    fn to_value_at(&self, depth: usize) -> Value {
        if depth >= MAX_DEPTH {
            return Value::Null;
        }
        match self {
            JsonInput::Null => Value::Null,
            JsonInput::Bool(b) => Value::Bool(*b),
            JsonInput::Int(n) => Value::from(*n),
            JsonInput::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            JsonInput::Str(s) => Value::from(s.as_str()),
            JsonInput::Arr(items) => items.iter().map(|i| i.to_value_at(depth + 1)).collect(),
            JsonInput::Obj(fields) => {
                let mut map = Map::new();
                for (key, value) in fields {
                    map.insert(key.name(), value.to_value_at(depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

/// Every integer the client decoder hands on fits in a JSON number exactly.
fn assert_integers_in_range(frame: &ServerFrame<Value>) {
    let in_range = |n: u64| assert!(n <= MAX_SAFE_INTEGER, "{n} is beyond 2^53");
    match frame {
        ServerFrame::Core(Inbound::RoomMessage { seq, .. }) => in_range(*seq),
        ServerFrame::Core(Inbound::Refreshed { id, expires_in }) => {
            in_range(*id);
            expires_in.into_iter().for_each(|ms| in_range(*ms));
        }
        ServerFrame::Core(Inbound::Joined { id, seq, .. }) => {
            in_range(*seq);
            id.into_iter().for_each(|id| in_range(*id));
        }
        ServerFrame::Core(
            Inbound::Ping { id } | Inbound::Pong { id } | Inbound::Reply { id, .. },
        ) => in_range(*id),
        ServerFrame::Doc(DocInbound::Applied { rev, cseq, .. }) => {
            in_range(*rev);
            in_range(*cseq);
        }
        ServerFrame::Doc(DocInbound::Snapshot { rev, entries, .. }) => {
            in_range(*rev);
            entries.iter().for_each(|(_, _, rev)| in_range(*rev));
        }
        _ => {}
    }
}

/// The client decoder on any JSON: deterministic, errors name the frame's own kind, integers in
/// range, and a field it does not know never changes what it decodes.
pub fn client_codec(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let decoded = decode_server_frame(&value);
    assert_eq!(
        decoded,
        decode_server_frame(&value),
        "decoding is deterministic"
    );
    match &decoded {
        Ok(frame) => assert_integers_in_range(frame),
        Err(DecodeError::Field { kind, field }) => {
            assert_eq!(Some(*kind), value.get("kind").and_then(Value::as_str));
            assert!(!field.is_empty());
        }
        Err(DecodeError::NoKind) => {
            assert!(value.get("kind").and_then(Value::as_str).is_none())
        }
        Err(other) => panic!("a parsed value cannot be {other:?}"),
    }
    if let Value::Object(map) = &value {
        if !map.contains_key("zz_future") {
            let mut extended = map.clone();
            extended.insert("zz_future".into(), Value::from(1));
            assert_eq!(
                decode_server_frame(&Value::Object(extended)),
                decoded,
                "an unknown field changed the decoding"
            );
        }
    }
}

/// The server's reader on any text: it never panics, and everything it answers is a frame the
/// client decodes as a known kind.
pub fn server_frames(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let answer = match dispatch::text_frame(&text, MAX_FRAME) {
        Action::Reply(answer) | Action::Broadcast(answer) => answer,
        _ => return,
    };
    let value: Value = serde_json::from_str(&answer).expect("the server writes JSON");
    match decode_server_frame(&value) {
        Ok(ServerFrame::Core(Inbound::Unknown { kind })) => {
            panic!("the server answered with a kind the client does not know: {kind}")
        }
        Ok(frame) => assert_integers_in_range(&frame),
        Err(error) => panic!("the client cannot decode {answer}: {}", error.reason()),
    }
}

/// A client frame the fuzzer builds; names are kept to what the server accepts as names.
#[derive(Arbitrary, Debug)]
pub enum ClientFrameInput {
    Msg(JsonInput),
    Req {
        id: u32,
        method: String,
        params: Option<JsonInput>,
    },
    Join {
        id: u32,
        room: u8,
        since: Option<u32>,
        meta: Option<JsonInput>,
    },
    Publish {
        room: u8,
        payload: JsonInput,
    },
    Presence {
        room: u8,
        meta: JsonInput,
    },
    Sync {
        id: u32,
        doc: u8,
        since: Option<u32>,
    },
    Op {
        doc: u8,
        cseq: u32,
        op: OpInput,
    },
}

/// The epoch a fuzzed `join`/`sync` sends along with its `since`.
const FUZZ_EPOCH: &str = "9f2c4e1a7b3d5a60";

fn name(n: u8) -> String {
    ["chat", "prices", "room:1", "a-b_c.d", "doc"][usize::from(n) % 5].to_owned()
}

/// Every frame the client's codec writes is read by the server without a refusal.
pub fn client_frames(input: ClientFrameInput) {
    let (room, op);
    let frame = match &input {
        ClientFrameInput::Msg(payload) => ClientFrame::Msg {
            payload: payload.to_value(),
        },
        ClientFrameInput::Req { id, method, params } => ClientFrame::Req {
            id: u64::from(*id),
            method,
            params: params.as_ref().map(JsonInput::to_value),
        },
        ClientFrameInput::Join {
            id,
            room: n,
            since,
            meta,
        } => {
            room = name(*n);
            ClientFrame::Join {
                id: u64::from(*id),
                room: &room,
                since: since.map(u64::from),
                epoch: since.and(Some(FUZZ_EPOCH)),
                history: None,
                meta: meta.as_ref().map(JsonInput::to_value),
            }
        }
        ClientFrameInput::Publish { room: n, payload } => {
            room = name(*n);
            ClientFrame::Publish {
                id: None,
                room: &room,
                payload: payload.to_value(),
            }
        }
        ClientFrameInput::Presence { room: n, meta } => {
            room = name(*n);
            ClientFrame::Presence {
                room: &room,
                meta: meta.to_value(),
            }
        }
        ClientFrameInput::Sync { id, doc, since } => {
            room = name(*doc);
            ClientFrame::Sync {
                id: u64::from(*id),
                doc: &room,
                since: since.map(u64::from),
                epoch: since.and(Some(FUZZ_EPOCH)),
            }
        }
        ClientFrameInput::Op {
            doc,
            cseq,
            op: input,
        } => {
            room = name(*doc);
            op = input.to_op();
            ClientFrame::Op {
                doc: &room,
                cseq: u64::from(*cseq).max(1),
                origin: "c-1",
                op: &op,
            }
        }
    };
    let text = encode_client_frame(frame).to_string();
    if text.len() > MAX_FRAME {
        return;
    }
    let refused = match dispatch::text_frame(&text, MAX_FRAME) {
        Action::Reply(answer) => answer.contains("\"kind\":\"error\"").then_some(answer),
        _ => None,
    };
    // Only an op whose key is longer than the server's limit may be refused.
    if let Some(answer) = refused {
        let allowed = match &input {
            ClientFrameInput::Op { op, .. } => op.key.len() > MAX_KEY,
            _ => false,
        };
        assert!(allowed, "{text} was refused: {answer}");
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct OpInput {
    pub key: String,
    pub change: ChangeInput,
    pub if_rev: Option<u8>,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum ChangeInput {
    Set(JsonInput),
    Merge(JsonInput),
    Delete,
}

impl OpInput {
    pub fn to_op(&self) -> Op<Value> {
        Op {
            key: self.key.clone(),
            change: match &self.change {
                ChangeInput::Set(v) => Change::Set(v.to_value()),
                ChangeInput::Merge(v) => Change::Merge(v.to_value()),
                ChangeInput::Delete => Change::Delete,
            },
            if_rev: self.if_rev.map(u64::from),
        }
    }
}

/// The document model under any sequence of ops: each applied op is the next revision and
/// leaves its key at that revision, a refused op changes nothing, and merge patches follow RFC
/// 7386 (idempotent, nulls remove).
pub fn doc_ops(ops: Vec<OpInput>) {
    let mut doc: Doc<Value> = Doc::new();
    for input in ops.iter().take(64) {
        let op = input.to_op();
        let before = doc.clone();
        match apply(&mut doc, &op) {
            Ok(rev) => {
                assert_eq!(rev, before.rev + 1);
                assert_eq!(doc.rev, rev);
                match &op.change {
                    Change::Delete => assert!(doc.get(&op.key).is_none()),
                    Change::Set(value) => {
                        assert_eq!(doc.get(&op.key), Some(value));
                        assert_eq!(doc.key_rev(&op.key), rev);
                    }
                    Change::Merge(patch) => {
                        let current = before.get(&op.key).cloned().unwrap_or(Value::Null);
                        let merged = merge_patch(&current, patch);
                        assert_eq!(doc.get(&op.key), Some(&merged));
                        assert_eq!(merge_patch(&merged, patch), merged, "not idempotent");
                        assert_no_nulls_where_patched(&merged, patch);
                        assert_eq!(doc.key_rev(&op.key), rev);
                    }
                }
                for (key, entry) in before.entries.iter() {
                    if *key != op.key {
                        assert_eq!(doc.entries.get(key), Some(entry), "another key changed");
                    }
                }
            }
            Err(Rejection::Conflict { expected, actual }) => {
                assert_eq!(doc, before, "a refused op changed the document");
                assert_eq!(Some(expected), op.if_rev);
                assert_eq!(actual, before.key_rev(&op.key));
                assert_ne!(expected, actual);
            }
        }
    }
}

/// Where a patch object names a member with `null`, the result has no such member.
fn assert_no_nulls_where_patched(result: &Value, patch: &Value) {
    if !patch.is_object() {
        return;
    }
    for (name, value) in Json::entries(patch) {
        if value.is_null() {
            assert!(result.get(&name).is_none(), "{name} should be removed");
        } else if let Some(inner) = result.get(&name) {
            assert_no_nulls_where_patched(inner, &value);
        }
    }
}
