//! The messages nodes exchange over the shared Redis pub/sub channel. Every node subscribes
//! to the one channel, so it sees every room's and document's events in the order Redis
//! executed the scripts that published them, which is their sequence order.
//!
//! A message is a list of fields, each written `<byte length>:<bytes>` (a netstring without the
//! trailing comma), so names and frames need no escaping. The Lua scripts write the same
//! format (`ns()` in [`super::scripts`]).

use crate::state::ConnId;
use axum::extract::ws::Utf8Bytes;

/// One event on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A room's message or presence change, the `evt`-th event of the room; presence changes
    /// skip the member they are about (`except`, a session id).
    Room {
        room: String,
        evt: u64,
        except: Option<String>,
        frame: Utf8Bytes,
    },
    /// A document's applied op, revision `rev`.
    Doc {
        doc: String,
        rev: u64,
        frame: Utf8Bytes,
    },
    /// A frame for one connection of one node.
    Conn {
        node: String,
        conn: ConnId,
        frame: Utf8Bytes,
    },
    /// Close one connection of one node (its session was taken over elsewhere).
    Close {
        node: String,
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// A frame for every connection of a user on the nodes other than `from` (which delivered
    /// it to its own connections itself).
    User {
        from: String,
        user: String,
        frame: Utf8Bytes,
    },
    /// A frame for every welcomed connection on the nodes other than `from`.
    Everyone { from: String, frame: Utf8Bytes },
}

/// Why a bus message could not be read (a foreign publisher on the channel, or a bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bus message: {0}")]
pub struct Malformed(&'static str);

fn field(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(value);
}

impl BusEvent {
    /// The message as published.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            BusEvent::Room {
                room,
                evt,
                except,
                frame,
            } => {
                for value in [
                    "r",
                    room,
                    &evt.to_string(),
                    except.as_deref().unwrap_or(""),
                    frame.as_str(),
                ] {
                    field(&mut out, value.as_bytes());
                }
            }
            BusEvent::Doc { doc, rev, frame } => {
                for value in ["d", doc, &rev.to_string(), frame.as_str()] {
                    field(&mut out, value.as_bytes());
                }
            }
            BusEvent::Conn { node, conn, frame } => {
                for value in ["c", node, &conn.to_string(), frame.as_str()] {
                    field(&mut out, value.as_bytes());
                }
            }
            BusEvent::Close {
                node,
                conn,
                code,
                reason,
            } => {
                for value in ["k", node, &conn.to_string(), &code.to_string(), reason] {
                    field(&mut out, value.as_bytes());
                }
            }
            BusEvent::User { from, user, frame } => {
                for value in ["u", from, user, frame.as_str()] {
                    field(&mut out, value.as_bytes());
                }
            }
            BusEvent::Everyone { from, frame } => {
                for value in ["a", from, frame.as_str()] {
                    field(&mut out, value.as_bytes());
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<BusEvent, Malformed> {
        let mut fields = Fields { rest: bytes };
        let kind = fields.text()?;
        let event = match kind.as_str() {
            "r" => BusEvent::Room {
                room: fields.text()?,
                evt: fields.number()?,
                except: Some(fields.text()?).filter(|s| !s.is_empty()),
                frame: fields.text()?.into(),
            },
            "d" => BusEvent::Doc {
                doc: fields.text()?,
                rev: fields.number()?,
                frame: fields.text()?.into(),
            },
            "c" => BusEvent::Conn {
                node: fields.text()?,
                conn: fields.number()?,
                frame: fields.text()?.into(),
            },
            "k" => BusEvent::Close {
                node: fields.text()?,
                conn: fields.number()?,
                code: u16::try_from(fields.number()?).map_err(|_| Malformed("close code"))?,
                reason: fields.text()?,
            },
            "u" => BusEvent::User {
                from: fields.text()?,
                user: fields.text()?,
                frame: fields.text()?.into(),
            },
            "a" => BusEvent::Everyone {
                from: fields.text()?,
                frame: fields.text()?.into(),
            },
            _ => return Err(Malformed("unknown kind")),
        };
        if fields.rest.is_empty() {
            Ok(event)
        } else {
            Err(Malformed("trailing bytes"))
        }
    }
}

struct Fields<'a> {
    rest: &'a [u8],
}

impl Fields<'_> {
    fn bytes(&mut self) -> Result<&[u8], Malformed> {
        let colon = self
            .rest
            .iter()
            .position(|b| *b == b':')
            .ok_or(Malformed("missing length"))?;
        let len: usize = std::str::from_utf8(&self.rest[..colon])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or(Malformed("bad length"))?;
        let start = colon + 1;
        let end = start.checked_add(len).ok_or(Malformed("bad length"))?;
        let value = self
            .rest
            .get(start..end)
            .ok_or(Malformed("truncated field"))?;
        self.rest = &self.rest[end..];
        Ok(value)
    }

    fn text(&mut self) -> Result<String, Malformed> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Malformed("field is not UTF-8"))
    }

    fn number(&mut self) -> Result<u64, Malformed> {
        self.text()?.parse().map_err(|_| Malformed("bad number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips() {
        let frame = Utf8Bytes::from_static(r#"{"kind":"msg","room":"a:b","seq":1}"#);
        let events = [
            BusEvent::Room {
                room: "chat:12:é".into(),
                evt: 7,
                except: Some("s-1".into()),
                frame: frame.clone(),
            },
            BusEvent::Room {
                room: "r".into(),
                evt: 1,
                except: None,
                frame: frame.clone(),
            },
            BusEvent::Doc {
                doc: "d".into(),
                rev: 3,
                frame: frame.clone(),
            },
            BusEvent::Conn {
                node: "n-1".into(),
                conn: 9,
                frame: frame.clone(),
            },
            BusEvent::Close {
                node: "n-1".into(),
                conn: 9,
                code: 4409,
                reason: "taken over".into(),
            },
            BusEvent::User {
                from: "n-2".into(),
                user: "alice".into(),
                frame: frame.clone(),
            },
            BusEvent::Everyone {
                from: "n-2".into(),
                frame,
            },
        ];
        for event in events {
            assert_eq!(BusEvent::decode(&event.encode()), Ok(event));
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &b""[..],
            b"1:z",
            b"1:a",
            b"1:a5:abc",
            b"1:a99999999999999999999999:x",
            b"1:a1:n2:{}x",
            b"1:d1:d1:x2:{}",
            b"1:a1:n2:\xff\xfe",
        ] {
            assert!(BusEvent::decode(bad).is_err(), "{bad:?}");
        }
    }
}
