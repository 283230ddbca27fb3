//! Native JSON codec for [`Envelope`]s, used by the test server and native tests.
//! The browser driver has its own codec that keeps payloads as JS values.

use super::{Envelope, ErrorBody, ErrorCode};
use serde_json::value::RawValue;

/// An envelope whose payload stays raw JSON text: relayed without being parsed.
pub type RawEnvelope = Envelope<Box<RawValue>>;

/// Why a text frame is not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "malformed frame: {}", self.0)
    }
}

impl core::error::Error for DecodeError {}

impl From<DecodeError> for ErrorBody {
    fn from(err: DecodeError) -> Self {
        ErrorBody {
            code: ErrorCode::BadFrame,
            message: err.0,
        }
    }
}

/// Decodes one text frame, keeping the payload as raw JSON.
pub fn decode(text: &str) -> Result<RawEnvelope, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError(e.to_string()))
}

/// Encodes an envelope as one text frame.
pub fn encode<P: serde::Serialize>(envelope: &Envelope<P>) -> String {
    // Serializing plain structs, strings, integers and already-valid JSON cannot fail.
    serde_json::to_string(envelope).unwrap_or_else(|_| String::from("{\"kind\":\"error\"}"))
}

/// Wraps a serializable value as a raw payload.
pub fn raw_payload<T: serde::Serialize>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Hello, Kind};

    #[test]
    fn payload_survives_a_round_trip_byte_for_byte() {
        let text = r#"{"kind":"msg","payload":{"b":[1, 2],"a":"x"}}"#;
        let env = decode(text).expect("valid frame");
        assert_eq!(
            env.payload.as_ref().map(|p| p.get()),
            Some(r#"{"b":[1, 2],"a":"x"}"#)
        );
        assert_eq!(
            encode(&env),
            r#"{"kind":"msg","payload":{"b":[1, 2],"a":"x"}}"#
        );
    }

    #[test]
    fn hello_encodes_as_documented() {
        let env = Envelope::new(Kind::Hello).with_payload(Hello {
            version: 1,
            user: None,
            resume: None,
            token: None,
        });
        assert_eq!(encode(&env), r#"{"kind":"hello","payload":{"version":1}}"#);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        for text in ["", "{", "[]", "null", r#"{"id":1}"#, r#"{"kind":5}"#] {
            assert!(decode(text).is_err(), "{text:?} should not decode");
        }
    }
}
