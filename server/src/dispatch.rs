//! What the server does with one frame from a welcomed connection. Pure functions from frame to
//! [`Action`], so the protocol rules are testable without sockets; request handlers and rooms
//! will be added here as new actions.

use resocket::protocol::json::{self, RawEnvelope};
use resocket::protocol::{ErrorBody, ErrorCode, Kind};

/// The server's response to one inbound frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this text frame back to the sender only.
    Reply(String),
    /// Send this text frame to every open connection, the sender included.
    Broadcast(String),
    /// Nothing to send.
    Ignore,
}

/// Longest kind name quoted back in an `unknown_kind` error.
const MAX_QUOTED_KIND: usize = 64;

/// Handles one text frame.
pub fn text_frame(text: &str, max_frame_bytes: usize) -> Action {
    if text.len() > max_frame_bytes {
        return too_large(text.len(), max_frame_bytes);
    }
    let envelope = match json::decode(text) {
        Ok(envelope) => envelope,
        Err(err) => return Action::Reply(error_frame(None, err.into())),
    };
    let id = envelope.id;
    match Kind::from_wire(&envelope.kind) {
        Some(Kind::Msg) => Action::Reply(msg_frame(envelope)),
        Some(Kind::Broadcast) => Action::Broadcast(msg_frame(envelope)),
        Some(Kind::Ping) => {
            let mut pong = RawEnvelope::new(Kind::Pong);
            pong.id = id;
            Action::Reply(json::encode(&pong))
        }
        Some(Kind::Pong) => Action::Ignore,
        // Answering an error with an error could make two peers loop forever.
        Some(Kind::Error) => Action::Ignore,
        Some(Kind::Hello) => Action::Reply(error_frame(
            id,
            ErrorBody {
                code: ErrorCode::Unexpected,
                message: "hello was already received on this connection".into(),
            },
        )),
        Some(Kind::Welcome) => Action::Reply(error_frame(
            id,
            ErrorBody {
                code: ErrorCode::Unexpected,
                message: "welcome is sent by the server only".into(),
            },
        )),
        None => Action::Reply(error_frame(
            id,
            ErrorBody {
                code: ErrorCode::UnknownKind,
                message: format!(
                    "unknown kind {:?}",
                    truncate(&envelope.kind, MAX_QUOTED_KIND)
                ),
            },
        )),
    }
}

/// Handles one binary frame: protocol v1 is text only.
pub fn binary_frame(len: usize, max_frame_bytes: usize) -> Action {
    if len > max_frame_bytes {
        return too_large(len, max_frame_bytes);
    }
    Action::Reply(error_frame(
        None,
        ErrorBody {
            code: ErrorCode::BadFrame,
            message: "binary frames are not supported".into(),
        },
    ))
}

fn too_large(len: usize, max_frame_bytes: usize) -> Action {
    Action::Reply(error_frame(
        None,
        ErrorBody {
            code: ErrorCode::TooLarge,
            message: format!("frame of {len} bytes exceeds the limit of {max_frame_bytes} bytes"),
        },
    ))
}

/// `{"kind":"msg","payload":<payload>}` with the payload relayed byte for byte.
fn msg_frame(envelope: RawEnvelope) -> String {
    let mut msg = RawEnvelope::new(Kind::Msg);
    msg.payload = envelope.payload;
    json::encode(&msg)
}

pub fn error_frame(id: Option<u64>, error: ErrorBody) -> String {
    let mut envelope = RawEnvelope::new(Kind::Error).with_error(error);
    envelope.id = id;
    json::encode(&envelope)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> String {
        match text_frame(text, 1024) {
            Action::Reply(frame) => frame,
            other => panic!("{text}: expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn msg_is_echoed_with_the_payload_untouched() {
        assert_eq!(
            reply(r#"{"kind":"msg","id":3,"payload":{"b": [1, 2.50],"a":"\u00e9"}}"#),
            r#"{"kind":"msg","payload":{"b": [1, 2.50],"a":"\u00e9"}}"#
        );
    }

    #[test]
    fn broadcast_becomes_a_msg_for_everyone() {
        assert_eq!(
            text_frame(r#"{"kind":"broadcast","payload":"hi"}"#, 1024),
            Action::Broadcast(r#"{"kind":"msg","payload":"hi"}"#.into())
        );
    }

    #[test]
    fn ping_gets_a_pong_with_its_id() {
        assert_eq!(
            reply(r#"{"kind":"ping","id":42}"#),
            r#"{"kind":"pong","id":42}"#
        );
        assert_eq!(reply(r#"{"kind":"ping"}"#), r#"{"kind":"pong"}"#);
    }

    #[test]
    fn pong_and_error_are_ignored() {
        assert_eq!(
            text_frame(r#"{"kind":"pong","id":1}"#, 1024),
            Action::Ignore
        );
        let err = r#"{"kind":"error","error":{"code":"bad_frame","message":"x"}}"#;
        assert_eq!(text_frame(err, 1024), Action::Ignore);
    }

    #[test]
    fn errors_carry_typed_codes() {
        assert_eq!(
            reply(r#"{"kind":"teleport","id":9}"#),
            r#"{"kind":"error","id":9,"error":{"code":"unknown_kind","message":"unknown kind \"teleport\""}}"#
        );
        assert!(reply(r#"{"kind":"hello","id":2,"payload":{"version":1}}"#)
            .starts_with(r#"{"kind":"error","id":2,"error":{"code":"unexpected""#));
        assert!(reply(r#"{"kind":"welcome"}"#).contains(r#""code":"unexpected""#));
        for bad in ["this is not json{", "", "[]", r#"{"kind":7}"#] {
            assert!(reply(bad).contains(r#""code":"bad_frame""#), "{bad:?}");
        }
    }

    #[test]
    fn size_limits_apply_to_text_and_binary() {
        let big = format!(r#"{{"kind":"msg","payload":"{}"}}"#, "x".repeat(40));
        let Action::Reply(frame) = text_frame(&big, 16) else {
            panic!("expected a reply")
        };
        assert!(frame.contains(r#""code":"too_large""#), "{frame}");
        assert_eq!(
            binary_frame(17, 16),
            Action::Reply(error_frame(
                None,
                ErrorBody {
                    code: ErrorCode::TooLarge,
                    message: "frame of 17 bytes exceeds the limit of 16 bytes".into()
                }
            ))
        );
        let Action::Reply(frame) = binary_frame(3, 16) else {
            panic!("expected a reply")
        };
        assert!(frame.contains("binary frames are not supported"), "{frame}");
    }

    #[test]
    fn long_kind_names_are_truncated_on_char_boundaries() {
        let kind = "é".repeat(100);
        let frame = reply(&format!(r#"{{"kind":"{kind}"}}"#));
        assert!(frame.len() < 200, "{frame}");
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
