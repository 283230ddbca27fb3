//! Encoders for the frames the server sends, built from the shared protocol types. Payloads from
//! clients are embedded as raw JSON, never re-parsed.

use resocket::doc::{Change, Doc, Op};
use resocket::protocol::json::{self, RawEnvelope};
use resocket::protocol::{
    DocOpBody, Envelope, ErrorBody, JoinedBody, Kind, Member, OpName, PresenceChange,
    PresenceEvent, RefreshedBody, RejectBody, SnapshotBody, SnapshotEntry, SyncedBody, Welcome,
    PROTOCOL_VERSION,
};
use serde_json::value::RawValue;
use serde_json::Value;

/// `{"kind":"welcome","payload":{"version":1,"session":..,"token":..,"resumed":..}}`
/// With `origin` (the document-op origin the server assigned) and `expires_in` (ms until the
/// connection's token expires) when there are, and `requestWindow` (how many requests the
/// client may have in flight).
pub fn welcome(
    session: &str,
    token: &str,
    resumed: bool,
    origin: Option<&str>,
    expires_in: Option<u64>,
    request_window: Option<u64>,
) -> String {
    json::encode(&Envelope::new(Kind::Welcome).with_payload(Welcome {
        version: PROTOCOL_VERSION,
        session: session.to_owned(),
        token: token.to_owned(),
        resumed,
        origin: origin.map(str::to_owned),
        expires_in,
        request_window,
    }))
}

/// `{"kind":"refreshed","id":..,"payload":{"expiresIn"?:..}}`
pub fn refreshed(id: u64, expires_in: Option<u64>) -> String {
    json::encode(
        &Envelope::new(Kind::Refreshed)
            .with_id(id)
            .with_payload(RefreshedBody { expires_in }),
    )
}

/// `{"kind":"error","id"?:..,"room"?:..,"error":{"code":..,"message":..}}`
pub fn error(id: Option<u64>, room: Option<&str>, error: ErrorBody) -> String {
    let mut envelope = RawEnvelope::new(Kind::Error).with_error(error);
    envelope.id = id;
    envelope.room = room.map(str::to_owned);
    json::encode(&envelope)
}

/// `{"kind":"res","id":..,"payload":<result>}` or `{"kind":"res","id":..,"error":{..}}`
pub fn res(id: u64, result: Result<&RawValue, ErrorBody>) -> String {
    let envelope = Envelope::new(Kind::Res).with_id(id);
    json::encode(&match result {
        Ok(payload) => envelope.with_payload(payload),
        Err(error) => envelope.with_error(error),
    })
}

/// `{"kind":"res","id":..,"payload":<seq>}`: publish `id` took effect as message `seq`.
pub fn published(id: u64, seq: u64) -> String {
    json::encode(&Envelope::new(Kind::Res).with_id(id).with_payload(seq))
}

/// `{"kind":"msg","payload":<payload>}`: an echoed or broadcast user message.
pub fn msg(payload: Option<&RawValue>) -> String {
    let mut envelope = Envelope::new(Kind::Msg);
    envelope.payload = payload;
    json::encode(&envelope)
}

/// `{"kind":"msg","room":..,"seq":..,"user"?:..,"payload":<payload>}`: a message published to
/// a room; `user` is the publisher's verified user id, stamped by the server (absent for the
/// server's own messages and anonymous publishers).
pub fn room_msg(room: &str, seq: u64, user: Option<&str>, payload: &RawValue) -> String {
    let (before, after) = room_msg_around_seq(room, user, payload);
    format!("{before}{seq}{after}")
}

/// A room message's frame without its sequence number: what comes before it and after it, so
/// a store that assigns the number (a Redis script) can put it in.
pub fn room_msg_around_seq(room: &str, user: Option<&str>, payload: &RawValue) -> (String, String) {
    // Encoding a string cannot fail; the fallback only keeps this total.
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    let before = format!(
        r#"{{"kind":"{}","room":{},"seq":"#,
        Kind::Msg.as_wire(),
        text(room)
    );
    let user = user.map_or(String::new(), |u| format!(r#","user":{}"#, text(u)));
    let after = format!(r#"{user},"payload":{}}}"#, payload.get());
    (before, after)
}

/// `{"kind":"joined","id"?:..,"room":..,"seq":<latest>,"payload":{"recovered":..,"epoch":..,"members":[..]}}`
pub fn joined(
    id: Option<u64>,
    room: &str,
    latest: u64,
    recovered: bool,
    epoch: &str,
    members: Vec<Member<&RawValue>>,
) -> String {
    let mut envelope = Envelope::new(Kind::Joined).with_payload(JoinedBody {
        recovered,
        epoch: Some(epoch.to_owned()),
        members,
    });
    envelope.id = id;
    envelope.room = Some(room.to_owned());
    envelope.seq = Some(latest);
    json::encode(&envelope)
}

/// `{"kind":"left","id"?:..,"room":..}`
pub fn left(id: Option<u64>, room: &str) -> String {
    let mut envelope = RawEnvelope::new(Kind::Left);
    envelope.id = id;
    envelope.room = Some(room.to_owned());
    json::encode(&envelope)
}

/// `{"kind":"presence","room":..,"payload":{"event":..,"member":{"id":..,"user"?:..,"meta"?:..}}}`
pub fn presence(room: &str, event: PresenceChange, member: Member<&RawValue>) -> String {
    let mut envelope = Envelope::new(Kind::Presence).with_payload(PresenceEvent { event, member });
    envelope.room = Some(room.to_owned());
    json::encode(&envelope)
}

/// `{"kind":"notify","payload":<payload>}`
pub fn notify(payload: &RawValue) -> String {
    json::encode(&Envelope::new(Kind::Notify).with_payload(payload))
}

/// `{"kind":"op","room":..,"seq":<rev>,"payload":{"origin":..,"cseq":..,"key":..,"op":..,"value"?:..,"ifRev"?:..}}`:
/// an applied document op. `value` is present (possibly `null`) for `set` and `merge`.
pub fn doc_op(room: &str, rev: u64, origin: &str, cseq: u64, op: &Op<Value>) -> String {
    let (name, value) = match &op.change {
        Change::Set(value) => (OpName::Set, Some(value)),
        Change::Delete => (OpName::Delete, None),
        Change::Merge(patch) => (OpName::Merge, Some(patch)),
    };
    let mut envelope = Envelope::new(Kind::Op).with_payload(DocOpBody {
        origin: origin.to_owned(),
        cseq: Some(cseq),
        key: op.key.clone(),
        op: name,
        value,
        if_rev: op.if_rev,
    });
    envelope.room = Some(room.to_owned());
    envelope.seq = Some(rev);
    json::encode(&envelope)
}

/// `{"kind":"reject","room":..,"payload":{"origin":..,"cseq":..,"error":{"code":..,"message":..}}}`
pub fn reject(room: &str, origin: &str, cseq: u64, error: ErrorBody) -> String {
    let mut envelope = Envelope::new(Kind::Reject).with_payload(RejectBody {
        origin: origin.to_owned(),
        cseq,
        error,
    });
    envelope.room = Some(room.to_owned());
    json::encode(&envelope)
}

/// `{"kind":"snapshot","id"?:..,"room":..,"seq":<rev>,"payload":{"entries":{<key>:{"value":..,"rev":..}},"epoch":..}}`
pub fn snapshot(id: Option<u64>, room: &str, doc: &Doc<Value>, epoch: &str) -> String {
    let entries = doc
        .entries
        .iter()
        .map(|(key, entry)| {
            let entry = SnapshotEntry {
                value: &entry.value,
                rev: entry.rev,
            };
            (key.clone(), entry)
        })
        .collect();
    let mut envelope = Envelope::new(Kind::Snapshot).with_payload(SnapshotBody {
        entries,
        epoch: Some(epoch.to_owned()),
    });
    envelope.id = id;
    envelope.room = Some(room.to_owned());
    envelope.seq = Some(doc.rev);
    json::encode(&envelope)
}

/// `{"kind":"synced","id"?:..,"room":..,"seq":<rev>,"payload":{"epoch":..}}`
pub fn synced(id: Option<u64>, room: &str, rev: u64, epoch: &str) -> String {
    let mut envelope = Envelope::new(Kind::Synced).with_payload(SyncedBody {
        epoch: Some(epoch.to_owned()),
    });
    envelope.id = id;
    envelope.room = Some(room.to_owned());
    envelope.seq = Some(rev);
    json::encode(&envelope)
}

/// `{"kind":"pong","id"?:..}`
pub fn pong(id: Option<u64>) -> String {
    let mut envelope = RawEnvelope::new(Kind::Pong);
    envelope.id = id;
    json::encode(&envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use resocket::protocol::ErrorCode;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    #[test]
    fn frames_have_the_documented_shapes() {
        assert_eq!(
            welcome("s-1", "t", true, None, None, None),
            r#"{"kind":"welcome","payload":{"version":1,"session":"s-1","token":"t","resumed":true}}"#
        );
        assert_eq!(
            welcome("s-1", "t", false, None, None, Some(256)),
            r#"{"kind":"welcome","payload":{"version":1,"session":"s-1","token":"t","resumed":false,"requestWindow":256}}"#
        );
        let forbidden = ErrorBody {
            code: ErrorCode::Forbidden,
            message: "no".into(),
        };
        assert_eq!(
            error(Some(3), Some("r"), forbidden.clone()),
            r#"{"kind":"error","id":3,"room":"r","error":{"code":"forbidden","message":"no"}}"#
        );
        assert_eq!(
            error(None, None, forbidden.clone()),
            r#"{"kind":"error","error":{"code":"forbidden","message":"no"}}"#
        );
        assert_eq!(
            res(7, Ok(&raw("[1, 2]"))),
            r#"{"kind":"res","id":7,"payload":[1, 2]}"#
        );
        assert_eq!(
            res(8, Err(forbidden)),
            r#"{"kind":"res","id":8,"error":{"code":"forbidden","message":"no"}}"#
        );
        assert_eq!(
            room_msg("chat", 46, None, &raw(r#"{"text":"hi"}"#)),
            r#"{"kind":"msg","room":"chat","seq":46,"payload":{"text":"hi"}}"#
        );
        let meta = raw(r#"{"name":"Alice"}"#);
        let alice = Member {
            id: "s-42".into(),
            user: Some("alice".into()),
            meta: Some(&*meta),
        };
        assert_eq!(
            joined(
                Some(3),
                "chat",
                45,
                true,
                "9f2c4e1a7b3d5a60",
                vec![alice.clone()]
            ),
            r#"{"kind":"joined","id":3,"room":"chat","seq":45,"payload":{"recovered":true,"epoch":"9f2c4e1a7b3d5a60","members":[{"id":"s-42","user":"alice","meta":{"name":"Alice"}}]}}"#
        );
        assert_eq!(
            left(Some(4), "chat"),
            r#"{"kind":"left","id":4,"room":"chat"}"#
        );
        assert_eq!(
            presence("chat", PresenceChange::Join, alice),
            r#"{"kind":"presence","room":"chat","payload":{"event":"join","member":{"id":"s-42","user":"alice","meta":{"name":"Alice"}}}}"#
        );
        assert_eq!(
            notify(&raw(r#"{"n":1}"#)),
            r#"{"kind":"notify","payload":{"n":1}}"#
        );
        assert_eq!(msg(None), r#"{"kind":"msg"}"#);
        assert_eq!(pong(Some(2)), r#"{"kind":"pong","id":2}"#);
    }

    #[test]
    fn doc_frames_have_the_documented_shapes() {
        use resocket::doc::{apply, Change, Doc, Op};
        use serde_json::json;
        let op = Op {
            key: "card-1".into(),
            change: Change::Set(json!({"x": 10})),
            if_rev: None,
        };
        assert_eq!(
            doc_op("board", 13, "c-5f2a", 4, &op),
            r#"{"kind":"op","room":"board","seq":13,"payload":{"origin":"c-5f2a","cseq":4,"key":"card-1","op":"set","value":{"x":10}}}"#
        );
        let merge = Op {
            key: "k".into(),
            change: Change::Merge(Value::Null),
            if_rev: Some(0),
        };
        assert_eq!(
            doc_op("b", 1, "o", 1, &merge),
            r#"{"kind":"op","room":"b","seq":1,"payload":{"origin":"o","cseq":1,"key":"k","op":"merge","value":null,"ifRev":0}}"#
        );
        let delete = Op {
            key: "k".into(),
            change: Change::Delete,
            if_rev: None,
        };
        assert_eq!(
            doc_op("b", 2, "o", 2, &delete),
            r#"{"kind":"op","room":"b","seq":2,"payload":{"origin":"o","cseq":2,"key":"k","op":"delete"}}"#
        );
        let conflict = ErrorBody {
            code: ErrorCode::Conflict,
            message: "card-1 is at revision 14, not 13".into(),
        };
        assert_eq!(
            reject("board", "c-5f2a", 7, conflict),
            r#"{"kind":"reject","room":"board","payload":{"origin":"c-5f2a","cseq":7,"error":{"code":"conflict","message":"card-1 is at revision 14, not 13"}}}"#
        );
        assert_eq!(
            synced(Some(9), "board", 13, "e"),
            r#"{"kind":"synced","id":9,"room":"board","seq":13,"payload":{"epoch":"e"}}"#
        );
        let mut doc = Doc::new();
        assert_eq!(
            snapshot(None, "b", &doc, "e"),
            r#"{"kind":"snapshot","room":"b","seq":0,"payload":{"entries":{},"epoch":"e"}}"#
        );
        apply(&mut doc, &op).expect("applies");
        apply(&mut doc, &merge).expect("applies");
        assert_eq!(
            snapshot(Some(9), "board", &doc, "e"),
            r#"{"kind":"snapshot","id":9,"room":"board","seq":2,"payload":{"entries":{"card-1":{"value":{"x":10},"rev":1},"k":{"value":null,"rev":2}},"epoch":"e"}}"#
        );
    }
}
