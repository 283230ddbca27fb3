//! The names JS listens to: `client.on(name)`, `room.on(name)`, `doc.on(name)`, and the emitter
//! keys built from them. Plain Rust (no JS types), so the native test `tests/ts_contract.rs`
//! includes this file and checks every name against the `.d.ts` in `contract.d.ts`.

use alloc::string::String;

/// An enum of event names with `ALL` and `name()` generated from one list, so neither can miss
/// a variant.
macro_rules! event_names {
    ($(#[$doc:meta])* $enum:ident { $($(#[$variant_doc:meta])* $variant:ident = $name:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $enum {
            $($(#[$variant_doc])* $variant,)*
        }

        impl $enum {
            /// Every name, for `tests/ts_contract.rs` (the driver only needs `name`).
            #[allow(dead_code)]
            pub const ALL: &'static [$enum] = &[$($enum::$variant,)*];

            /// The name as JS passes it to `on`.
            pub const fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)*
                }
            }
        }
    };
}

event_names!(
    /// The keys of `ClientEvents`.
    ClientEvent {
        State = "state",
        Message = "message",
        Error = "error",
        Dropped = "dropped",
        Rtt = "rtt",
        Session = "session",
        Notification = "notification",
    }
);

event_names!(
    /// The keys of `RoomEvents`.
    RoomEvent {
        State = "state",
        Presence = "presence",
        /// Also what `client.join`'s handler receives.
        Message = "message",
    }
);

#[cfg(feature = "docs")]
event_names!(
    /// The keys of `DocEvents`.
    DocEvent {
        Change = "change",
        Confirmed = "confirmed",
        Rejected = "rejected",
        Synced = "synced",
        /// The server's document has another history (epoch): its snapshot replaced the
        /// confirmed state; pending ops are re-sent on top of it.
        Reset = "reset",
        /// The server refused the sync: the document stays unsynced until the next connection.
        Error = "error",
    }
);

/// The error code of bad options and arguments; every other code is a `ClientError::code()`,
/// or made by glue.js (`NoWebSocket`).
pub const INVALID_OPTIONS: &str = "InvalidOptions";

/// The emitter key of a room's event, e.g. `message@chat`.
pub fn room_key(event: &str, room: &str) -> String {
    [event, "@", room].concat()
}

/// The emitter key of a document's event, e.g. `change#board`.
#[cfg(feature = "docs")]
pub fn doc_key(event: &str, doc: &str) -> String {
    [event, "#", doc].concat()
}
