//! Encoders for the frames the server sends, built from the shared protocol types. Payloads from
//! clients are embedded as raw JSON, never re-parsed.

use resocket::protocol::json::{self, RawEnvelope};
use resocket::protocol::{
    Envelope, ErrorBody, JoinedBody, Kind, Member, PresenceChange, PresenceEvent, Welcome,
    PROTOCOL_VERSION,
};
use serde_json::value::RawValue;

/// `{"kind":"welcome","payload":{"version":1,"session":..,"token":..,"resumed":..}}`
pub fn welcome(session: &str, token: &str, resumed: bool) -> String {
    json::encode(&Envelope::new(Kind::Welcome).with_payload(Welcome {
        version: PROTOCOL_VERSION,
        session: session.to_owned(),
        token: token.to_owned(),
        resumed,
    }))
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

/// `{"kind":"msg","payload":<payload>}`: an echoed or broadcast user message.
pub fn msg(payload: Option<&RawValue>) -> String {
    let mut envelope = Envelope::new(Kind::Msg);
    envelope.payload = payload;
    json::encode(&envelope)
}

/// `{"kind":"msg","room":..,"seq":..,"payload":<payload>}`: a message published to a room.
pub fn room_msg(room: &str, seq: u64, payload: &RawValue) -> String {
    let mut envelope = Envelope::new(Kind::Msg).with_payload(payload);
    envelope.room = Some(room.to_owned());
    envelope.seq = Some(seq);
    json::encode(&envelope)
}

/// `{"kind":"joined","id"?:..,"room":..,"seq":<latest>,"payload":{"recovered":..,"members":[..]}}`
pub fn joined(
    id: Option<u64>,
    room: &str,
    latest: u64,
    recovered: bool,
    members: Vec<Member<&RawValue>>,
) -> String {
    let mut envelope = Envelope::new(Kind::Joined).with_payload(JoinedBody { recovered, members });
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
            welcome("s-1", "t", true),
            r#"{"kind":"welcome","payload":{"version":1,"session":"s-1","token":"t","resumed":true}}"#
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
            room_msg("chat", 46, &raw(r#"{"text":"hi"}"#)),
            r#"{"kind":"msg","room":"chat","seq":46,"payload":{"text":"hi"}}"#
        );
        let meta = raw(r#"{"name":"Alice"}"#);
        let alice = Member {
            id: "s-42".into(),
            user: Some("alice".into()),
            meta: Some(&*meta),
        };
        assert_eq!(
            joined(Some(3), "chat", 45, true, vec![alice.clone()]),
            r#"{"kind":"joined","id":3,"room":"chat","seq":45,"payload":{"recovered":true,"members":[{"id":"s-42","user":"alice","meta":{"name":"Alice"}}]}}"#
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
}
