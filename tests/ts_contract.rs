//! The Rust↔TypeScript contract, checked natively: the names the package's TypeScript
//! (`js/wasm/`) gives events, error codes and states are exactly the ones the core uses and
//! `js/wasm/types.ts` declares, and the tables it reads the WASM module's output with follow the
//! order `src/ffi/out.rs` writes in. A name added on one side only fails here.

use resocket::core::{ClientError, CloseReason, ConnectionState, QualityLevel, RoomState};
use resocket::protocol::{ErrorCode, OpName, PresenceChange};
use std::collections::BTreeSet;

const CONTRACT: &str = include_str!("../js/wasm/types.ts");
const CLIENT: &str = include_str!("../js/wasm/client.ts");
const DOC: &str = include_str!("../js/wasm/doc.ts");
const OPTIONS: &str = include_str!("../js/wasm/options.ts");
const OUT: &str = include_str!("../src/ffi/out.rs");

/// The text of `export <kind> <name> ...` up to the blank line that ends it.
fn declaration(kind: &str, name: &str) -> &'static str {
    let start = CONTRACT
        .find(&format!("export {kind} {name} "))
        .unwrap_or_else(|| panic!("types.ts declares no {kind} {name}"));
    let rest = &CONTRACT[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

/// The property names of an interface (its members at the first indentation level).
fn interface_keys(name: &str) -> BTreeSet<String> {
    declaration("interface", name)
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|line| line.split(['?', ':']).next())
        .map(str::to_owned)
        .collect()
}

/// Every string literal in `text`, e.g. the members of a union of names.
fn literals(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The string literals of `field: "a" | "b"` wherever `field` occurs in `text`.
fn field_literals(text: &str, field: &str) -> BTreeSet<String> {
    let pattern = format!("{field}: \"");
    text.match_indices(&pattern)
        .flat_map(|(at, _)| {
            let value = &text[at + pattern.len() - 1..];
            let end = value.find([';', '}']).unwrap_or(value.len());
            literals(&value[..end])
        })
        .collect()
}

/// The property `field` of interface `name`, as declared (its line).
fn interface_field(name: &str, field: &str) -> &'static str {
    declaration("interface", name)
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("interface {name} has no field {field}"))
}

fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names.into_iter().map(str::to_owned).collect()
}

#[track_caller]
fn assert_same(what: &str, rust: BTreeSet<String>, typescript: BTreeSet<String>) {
    let only_rust: Vec<_> = rust.difference(&typescript).collect();
    let only_ts: Vec<_> = typescript.difference(&rust).collect();
    assert!(
        only_rust.is_empty() && only_ts.is_empty(),
        "{what}: only in Rust {only_rust:?}, only in TypeScript {only_ts:?}"
    );
}

// The lists below name one value of every variant. Each is followed by a match without a
// wildcard: a new variant stops it compiling until it is listed (and so checked) here.

fn every_error_code() -> Vec<ErrorCode> {
    use ErrorCode::*;
    let all = vec![
        BadFrame,
        UnknownKind,
        TooLarge,
        Unexpected,
        NotFound,
        BadRequest,
        RateLimited,
        Internal,
        Forbidden,
        Conflict,
        Unauthorized,
        Unavailable,
        Expired,
        Other,
    ];
    for code in &all {
        match code {
            BadFrame | UnknownKind | TooLarge | Unexpected | NotFound | BadRequest
            | RateLimited | Internal | Forbidden | Conflict | Unauthorized | Unavailable
            | Expired | Other => {}
        }
    }
    all
}

fn every_client_error() -> Vec<ClientError> {
    use ClientError::*;
    let text = String::new;
    let mut all = vec![
        QueueFull { depth: 0, bytes: 0 },
        MessageTooLarge { size: 0, limit: 0 },
        Closed,
        MalformedFrame { reason: text() },
        InboundTooLarge { size: 0, limit: 0 },
        UnknownKind { kind: text() },
        ConnectTimeout { timeout_ms: 0 },
        HeartbeatTimeout { timeout_ms: 0 },
        Rejected {
            code: 0,
            reason: text(),
        },
        Timeout { timeout_ms: 0 },
        Disconnected,
        SessionLost,
        Aborted,
        DocNotOpen { doc: text() },
        Unauthorized { reason: text() },
        TokenUnavailable { reason: text() },
        NotSupported { what: "request" },
    ];
    all.extend(every_error_code().into_iter().map(|code| Server {
        code,
        message: text(),
    }));
    for error in &all {
        match error {
            QueueFull { .. }
            | MessageTooLarge { .. }
            | Closed
            | MalformedFrame { .. }
            | InboundTooLarge { .. }
            | UnknownKind { .. }
            | Server { .. }
            | ConnectTimeout { .. }
            | HeartbeatTimeout { .. }
            | Rejected { .. }
            | Timeout { .. }
            | Disconnected
            | SessionLost
            | Aborted
            | DocNotOpen { .. }
            | Unauthorized { .. }
            | TokenUnavailable { .. }
            | NotSupported { .. } => {}
        }
    }
    all
}

fn every_connection_state() -> Vec<ConnectionState> {
    use ConnectionState::*;
    let all = vec![
        Idle,
        Connecting { attempt: 1, url: 0 },
        Open { url: 0 },
        Reconnecting {
            attempt: 1,
            delay_ms: 0,
            retry_at: 0,
            code: 1006,
            reason: String::new(),
        },
        Offline {
            code: 1006,
            reason: String::new(),
        },
        Closed {
            reason: CloseReason::Client,
        },
    ];
    for state in &all {
        match state {
            Idle
            | Connecting { .. }
            | Open { .. }
            | Reconnecting { .. }
            | Offline { .. }
            | Closed { .. } => {}
        }
    }
    all
}

fn every_close_reason() -> Vec<CloseReason> {
    use CloseReason::*;
    let all = vec![
        Client,
        MaxAttempts { attempts: 1 },
        Rejected {
            code: 4409,
            reason: String::new(),
        },
        Unauthorized,
    ];
    for reason in &all {
        match reason {
            Client | MaxAttempts { .. } | Rejected { .. } | Unauthorized => {}
        }
    }
    all
}

fn every_room_state() -> Vec<RoomState> {
    use RoomState::*;
    let all = vec![
        Joining,
        Joined { recovered: true },
        Rejoining,
        Left,
        Error {
            code: String::new(),
            message: String::new(),
        },
    ];
    for state in &all {
        match state {
            Joining | Joined { .. } | Rejoining | Left | Error { .. } => {}
        }
    }
    all
}

/// The variants of `EventCode` (src/ffi/out.rs), in order: the codes `client_event` returns.
fn event_codes() -> Vec<&'static str> {
    let body = OUT
        .split("pub enum EventCode {")
        .nth(1)
        .expect("out.rs's EventCode");
    body[..body.find('}').expect("EventCode's end")]
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.trim_end_matches(','))
        .collect()
}

/// The string literals of the line of `source` that starts with `const <name> = [`.
fn list(source: &'static str, name: &str) -> Vec<String> {
    let line = source
        .lines()
        .find(|line| line.starts_with(&format!("const {name} = [")))
        .unwrap_or_else(|| panic!("no list {name}"));
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The number a TypeScript constant `name = <n>` is set to.
fn constant(source: &str, name: &str) -> usize {
    let pattern = format!("{name} = ");
    let at = source
        .find(&pattern)
        .unwrap_or_else(|| panic!("no constant {name}"))
        + pattern.len();
    let digits: String = source[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

#[test]
fn event_names_and_codes_match_the_typescript_event_maps() {
    let codes = event_codes();
    let position = |variant: &str| {
        codes
            .iter()
            .position(|code| *code == variant)
            .unwrap_or_else(|| panic!("EventCode has no {variant}"))
    };
    // The client events by code: `CLIENT_EVENTS` lists the first six, notifications are emitted
    // by name.
    let client = list(CLIENT, "CLIENT_EVENTS");
    for (i, name) in client.iter().enumerate() {
        assert_eq!(codes[i].to_lowercase(), *name, "CLIENT_EVENTS[{i}]");
    }
    assert!(
        CLIENT.contains("_emit(\"notification\""),
        "client.ts emits notification"
    );
    let mut client: BTreeSet<String> = client.into_iter().collect();
    client.insert("notification".to_owned());
    assert_same("ClientEvents", client, interface_keys("ClientEvents"));
    for (name, variant) in [
        ("REPLY", "Reply"),
        ("ROOM", "Room"),
        ("ROOM_MESSAGE", "RoomMessage"),
        ("PRESENCE", "Presence"),
        ("NOTIFICATION", "Notification"),
    ] {
        assert_eq!(
            constant(CLIENT, name),
            position(variant),
            "client.ts's {name}"
        );
    }
    // Room events are emitted as `<event>@<room>`.
    let room = names(["state", "presence", "message"]);
    for event in &room {
        assert!(
            CLIENT.contains(&format!("\"{event}@\"")),
            "client.ts emits {event}@"
        );
    }
    assert_same("RoomEvents", room, interface_keys("RoomEvents"));
    // Document events by code, from `DocChanged` on.
    let doc = list(DOC, "DOC_EVENTS");
    let first = position("DocChanged");
    assert_eq!(
        constant(DOC, "FIRST_DOC_EVENT"),
        first,
        "doc.ts's FIRST_DOC_EVENT"
    );
    let variants = [
        "DocChanged",
        "DocConfirmed",
        "DocRejected",
        "DocSynced",
        "DocReset",
        "DocError",
    ];
    for (i, (name, variant)) in doc.iter().zip(variants).enumerate() {
        assert_eq!(codes[first + i], variant, "EventCode after DocChanged");
        assert!(
            variant.to_lowercase().starts_with(&format!("doc{name}")),
            "DOC_EVENTS[{i}]"
        );
    }
    assert_same(
        "DocEvents",
        doc.into_iter().collect(),
        interface_keys("DocEvents"),
    );
}

#[test]
fn error_codes_match_resocket_error_code() {
    let mut codes = names(every_client_error().iter().map(ClientError::code));
    // The errors the TypeScript makes itself (`resocketError("<code>", ...)`): InvalidOptions,
    // NoWebSocket.
    for source in [CLIENT, DOC, OPTIONS, include_str!("../js/wasm/room.ts")] {
        let made = source.split("resocketError(\"").skip(1);
        codes.extend(made.filter_map(|rest| rest.split('"').next().map(str::to_owned)));
    }
    let declared = literals(declaration("type", "ResocketErrorCode"));
    assert_same("ResocketErrorCode", codes, declared);
}

#[test]
fn state_names_match_the_typescript_unions() {
    let states = every_connection_state();
    let declared = field_literals(declaration("type", "ConnectionState"), "status");
    assert_same(
        "ConnectionState",
        names(states.iter().map(ConnectionState::name)),
        declared,
    );
    let reasons = every_close_reason();
    let declared = field_literals(declaration("type", "CloseReason"), "kind");
    assert_same(
        "CloseReason",
        names(reasons.iter().map(CloseReason::kind)),
        declared,
    );
    let states = every_room_state();
    let declared = field_literals(declaration("type", "RoomState"), "status");
    assert_same(
        "RoomState",
        names(states.iter().map(RoomState::name)),
        declared,
    );
}

#[test]
fn payload_names_match_their_typescript_fields() {
    use PresenceChange::*;
    let changes = [Join, Leave, Update];
    for change in changes {
        match change {
            Join | Leave | Update => {}
        }
    }
    assert_same(
        "PresenceEvent.event",
        names(changes.map(PresenceChange::as_wire)),
        literals(interface_field("PresenceEvent", "event")),
    );
    let ops = [OpName::Set, OpName::Delete, OpName::Merge];
    for op in ops {
        match op {
            OpName::Set | OpName::Delete | OpName::Merge => {}
        }
    }
    assert_same(
        "DocEvents.rejected.op",
        names(ops.map(OpName::as_wire)),
        field_literals(interface_field("DocEvents", "rejected"), "op"),
    );
    use QualityLevel::*;
    let levels = [Offline, Poor, Fair, Good];
    for level in levels {
        match level {
            Offline | Poor | Fair | Good => {}
        }
    }
    assert_same(
        "Metrics.quality",
        names(levels.map(QualityLevel::as_str)),
        literals(interface_field("Metrics", "quality")),
    );
}

#[test]
fn join_options_match_the_typescript_join_options() {
    assert_same(
        "JoinOptions",
        literals(
            OPTIONS
                .lines()
                .find(|line| line.starts_with("const JOIN_KEYS = ["))
                .expect("options.ts's JOIN_KEYS"),
        ),
        interface_keys("JoinOptions"),
    );
}

#[test]
fn contract_declares_no_any() {
    let code = CONTRACT
        .lines()
        .filter(|line| !line.trim_start().starts_with(['*', '/']));
    for line in code {
        let words = line.split(|c: char| !c.is_ascii_alphanumeric() && c != '_');
        assert!(!words.into_iter().any(|w| w == "any"), "`any` in: {line}");
    }
}

#[test]
fn the_parser_sees_the_declarations() {
    // Guards the helpers above: an empty parse would make every comparison vacuous.
    assert!(interface_keys("ClientEvents").contains("notification"));
    assert!(literals(declaration("type", "ResocketErrorCode")).contains("DocNotOpen"));
    assert!(field_literals(declaration("type", "RoomState"), "status").contains("error"));
}

/// The line of options.ts's table `const <table>... = {` for option object `name`.
fn glue_table_line(table: &str, name: &str) -> &'static str {
    let start = OPTIONS
        .find(&format!("const {table}"))
        .unwrap_or_else(|| panic!("options.ts has no table {table}"));
    let rest = &OPTIONS[start..];
    rest[..rest.find("\n};").unwrap_or(rest.len())]
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("options.ts's {table} has no {name}"))
}

/// The keys `clientOptions` (options.ts) takes in option object `name`: its numbers (`NUMBERS`,
/// `{ key: default, ... }`) and the rest (`OTHER_KEYS`, a list of names).
fn glue_option_keys(name: &str) -> BTreeSet<String> {
    let numbers = glue_table_line("NUMBERS", name);
    let inner = &numbers[numbers.find('{').map_or(0, |at| at + 1)..numbers.rfind('}').unwrap_or(0)];
    let mut keys: BTreeSet<String> = inner
        .split(',')
        .filter_map(|entry| entry.split(':').next())
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
        .collect();
    keys.extend(literals(glue_table_line("OTHER_KEYS", name)));
    keys
}

#[test]
fn the_options_options_ts_reads_are_the_declared_ones() {
    for (name, interface) in [
        ("options", "ClientOptions"),
        ("reconnect", "ReconnectOptions"),
        ("queue", "QueueOptions"),
        ("heartbeat", "HeartbeatOptions"),
    ] {
        assert_same(interface, glue_option_keys(name), interface_keys(interface));
    }
}

/// The package's JS builds each error's code and message from `ClientError::parts` with its
/// `ERRORS` table (js/wasm/values.ts): every row gives what `code` and `message` give.
#[test]
fn the_js_error_table_builds_what_client_error_does() {
    let values = include_str!("../js/wasm/values.ts");
    let rows: Vec<&str> = values
        .split("const ERRORS")
        .nth(1)
        .expect("values.ts has ERRORS")
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("  ["))
        .collect();
    for (n, error) in every_client_error().into_iter().enumerate() {
        // Distinct values, so a field read out of order shows.
        let error = with_sample_fields(error, n as u64);
        let (mut numbers, mut texts) = (Vec::new(), Vec::new());
        error.parts(|n| numbers.push(n), |t| texts.push(t.to_owned()));
        let index = numbers.remove(0);
        let row = rows
            .get(index as usize)
            .unwrap_or_else(|| panic!("ERRORS has no row {index} for {error:?}"));
        let mut texts = texts.into_iter();
        // `  [<code or null>, <quoted template>],`
        let (code_part, template) = row[3..row.len() - 2]
            .split_once(", ")
            .unwrap_or_else(|| panic!("row {index} is not [code, template]"));
        let code = match code_part {
            "null" => texts.next().expect("a server error's code"),
            quoted => quoted.trim_matches('"').to_owned(),
        };
        let template = &template[1..template.len() - 1];
        let mut numbers = numbers.into_iter();
        let mut message = String::new();
        for c in template.chars() {
            match c {
                '#' => message.push_str(&numbers.next().expect("a number").to_string()),
                '$' => message.push_str(&texts.next().expect("a text")),
                c => message.push(c),
            }
        }
        assert_eq!(code, error.code(), "row {index}'s code");
        assert_eq!(message, error.message(), "row {index}'s message");
    }
}

/// `error` with its numbers and strings set to values made from `n`.
fn with_sample_fields(error: ClientError, n: u64) -> ClientError {
    use ClientError::*;
    let text = |what: &str| format!("{what}-{n}");
    match error {
        QueueFull { .. } => QueueFull {
            depth: 10 + n as usize,
            bytes: 20 + n as usize,
        },
        MessageTooLarge { .. } => MessageTooLarge {
            size: 30 + n as usize,
            limit: 40 + n as usize,
        },
        MalformedFrame { .. } => MalformedFrame {
            reason: text("reason"),
        },
        InboundTooLarge { .. } => InboundTooLarge {
            size: 80 + n as usize,
            limit: 90 + n as usize,
        },
        UnknownKind { .. } => UnknownKind { kind: text("kind") },
        Server { code, .. } => Server {
            code,
            message: text("message"),
        },
        ConnectTimeout { .. } => ConnectTimeout { timeout_ms: 50 + n },
        HeartbeatTimeout { .. } => HeartbeatTimeout { timeout_ms: 60 + n },
        Rejected { .. } => Rejected {
            code: 4000 + n as u16,
            reason: text("reason"),
        },
        Timeout { .. } => Timeout { timeout_ms: 70 + n },
        DocNotOpen { .. } => DocNotOpen { doc: text("doc") },
        Unauthorized { .. } => Unauthorized {
            reason: text("reason"),
        },
        TokenUnavailable { .. } => TokenUnavailable {
            reason: text("reason"),
        },
        other => other,
    }
}
