//! Per-connection budgets: how many rooms a connection may be in and documents it may be
//! synced to, and how large a member's presence metadata may be. Over a budget, the frame is
//! refused with a typed error (`rate_limited` for the counts, `too_large` for the metadata).

use super::dispatch::Action;
use super::frames;
use resocket::protocol::{ErrorBody, ErrorCode};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    pub rooms_per_connection: usize,
    pub docs_per_connection: usize,
    /// Largest presence `meta`, in bytes of JSON.
    pub meta_bytes: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            rooms_per_connection: 100,
            docs_per_connection: 100,
            meta_bytes: 4096,
        }
    }
}

/// What one connection holds against its budgets.
#[derive(Debug, Default)]
pub struct Held {
    rooms: HashSet<String>,
    docs: HashSet<String>,
}

fn refusal(id: Option<u64>, room: &str, code: ErrorCode, message: String) -> String {
    frames::error(id, Some(room), ErrorBody { code, message })
}

impl Held {
    /// The refusal of a frame that would go over a budget, if it would.
    pub fn check(&self, budgets: &Budgets, action: &Action) -> Option<String> {
        let meta_over = |meta: usize| meta > budgets.meta_bytes;
        let too_large = |id, room: &str| {
            let message = format!(
                "presence metadata is limited to {} bytes",
                budgets.meta_bytes
            );
            Some(refusal(id, room, ErrorCode::TooLarge, message))
        };
        match action {
            Action::Join { id, room, meta, .. } => {
                if meta.as_ref().is_some_and(|m| meta_over(m.get().len())) {
                    return too_large(*id, room);
                }
                let max = budgets.rooms_per_connection;
                (!self.rooms.contains(room) && self.rooms.len() >= max).then(|| {
                    let message = format!("a connection may be in at most {max} rooms");
                    refusal(*id, room, ErrorCode::RateLimited, message)
                })
            }
            Action::Presence { id, room, meta } if meta_over(meta.get().len()) => {
                too_large(*id, room)
            }
            Action::Sync { id, room, .. } => {
                let max = budgets.docs_per_connection;
                (!self.docs.contains(room) && self.docs.len() >= max).then(|| {
                    let message = format!("a connection may sync at most {max} documents");
                    refusal(*id, room, ErrorCode::RateLimited, message)
                })
            }
            _ => None,
        }
    }

    pub fn joined(&mut self, room: &str) {
        self.rooms.insert(room.to_owned());
    }

    pub fn left(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    pub fn synced(&mut self, doc: &str) {
        self.docs.insert(doc.to_owned());
    }

    pub fn unsynced(&mut self, doc: &str) {
        self.docs.remove(doc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn join(room: &str, meta: Option<&str>) -> Action {
        Action::Join {
            id: Some(1),
            room: room.to_owned(),
            since: None,
            history: None,
            meta: meta.map(|m| RawValue::from_string(m.to_owned()).expect("JSON")),
        }
    }

    #[test]
    fn counts_and_metadata_are_bounded() {
        let budgets = Budgets {
            rooms_per_connection: 2,
            docs_per_connection: 1,
            meta_bytes: 8,
        };
        let mut held = Held::default();
        assert_eq!(held.check(&budgets, &join("a", Some("\"short\""))), None);
        held.joined("a");
        held.joined("b");
        assert_eq!(
            held.check(&budgets, &join("a", None)),
            None,
            "a rejoin is no new room"
        );
        let refused = held.check(&budgets, &join("c", None)).expect("over");
        assert!(
            refused.contains("rate_limited") && refused.contains("at most 2 rooms"),
            "{refused}"
        );
        let big = held
            .check(&budgets, &join("a", Some("\"far too long\"")))
            .expect("too big");
        assert!(big.contains("too_large"), "{big}");
        held.left("b");
        assert_eq!(held.check(&budgets, &join("c", None)), None);
    }
}
