//! Presence across reconnects, on virtual time: a joined room keeps its last known members,
//! marked stale, while it rejoins; the rejoin's `joined` replaces them whole.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{Config, Inbound, RoomState};
use resocket::protocol::{ErrorBody, ErrorCode, Member};
use support::Harness;

fn config() -> Config {
    let mut c = Config::default();
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 100;
    c.reconnect.jitter = 0.0;
    c.heartbeat.interval_ms = 0;
    c
}

fn member(id: &str, user: &str) -> Member<String> {
    Member {
        id: id.into(),
        user: Some(user.into()),
        meta: None,
    }
}

fn joined(h: &mut Harness, room: &str, members: Vec<Member<String>>) {
    h.receive(Inbound::Joined {
        id: None,
        room: room.into(),
        seq: 0,
        recovered: true,
        epoch: Some("e1".into()),
        members,
    });
}

/// (id, user) of the room's members, and whether they are stale.
fn presence(h: &Harness, room: &str) -> (Vec<(String, String)>, bool) {
    let room = h.core.room(room).expect("room");
    let members = room
        .members
        .values()
        .map(|m| (m.id.clone(), m.user.clone().unwrap_or_default()))
        .collect();
    (members, room.members_stale())
}

fn ids(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(id, user)| ((*id).to_owned(), (*user).to_owned()))
        .collect()
}

/// Joined "chat" with ann (this client, s-1), bo and cy.
fn joined_with_three() -> Harness {
    let mut h = Harness::new(config());
    h.connect();
    h.accept();
    h.core.join("chat", None);
    h.drive();
    joined(
        &mut h,
        "chat",
        vec![
            member("s-1", "ann"),
            member("s-2", "bo"),
            member("s-3", "cy"),
        ],
    );
    h
}

#[test]
fn members_stay_stale_while_rejoining_and_the_rejoin_replaces_them() {
    let mut h = joined_with_three();
    let before = ids(&[("s-1", "ann"), ("s-2", "bo"), ("s-3", "cy")]);
    assert_eq!(presence(&h, "chat"), (before.clone(), false));

    h.server_close(1006);
    assert_eq!(
        h.core.room("chat").map(|r| &r.state),
        Some(&RoomState::Rejoining)
    );
    assert_eq!(presence(&h, "chat"), (before.clone(), true), "kept, stale");

    // Still stale through the backoff, the new socket and the welcome: until `joined`.
    h.advance(100);
    h.accept();
    assert_eq!(h.socket().joins.len(), 1, "rejoined");
    assert_eq!(presence(&h, "chat"), (before, true));

    // Meanwhile cy left and dee joined: the rejoin's list replaces the stale one.
    joined(
        &mut h,
        "chat",
        vec![
            member("s-1", "ann"),
            member("s-2", "bo"),
            member("s-4", "dee"),
        ],
    );
    assert_eq!(
        presence(&h, "chat"),
        (ids(&[("s-1", "ann"), ("s-2", "bo"), ("s-4", "dee")]), false)
    );
}

#[test]
fn members_stay_stale_across_several_failed_attempts() {
    let mut h = joined_with_three();
    h.server_close(1006);
    for _ in 0..3 {
        h.advance(100);
        assert!(h.socket.is_some(), "an attempt");
        h.server_close(1006); // refused before the welcome
        let (members, stale) = presence(&h, "chat");
        assert_eq!((members.len(), stale), (3, true));
    }
    h.advance(100);
    h.accept();
    joined(&mut h, "chat", vec![member("s-1", "ann")]);
    assert_eq!(presence(&h, "chat"), (ids(&[("s-1", "ann")]), false));
}

#[test]
fn a_refused_rejoin_forgets_the_stale_members() {
    let mut h = joined_with_three();
    h.server_close(1006);
    h.advance(100);
    h.accept();
    let join_id = h.socket().joins[0].0;
    h.receive(Inbound::Error {
        id: Some(join_id),
        room: Some("chat".into()),
        body: ErrorBody {
            code: ErrorCode::Forbidden,
            message: "no longer yours".into(),
        },
    });
    assert!(matches!(
        h.core.room("chat").map(|r| &r.state),
        Some(RoomState::Error { .. })
    ));
    assert_eq!(presence(&h, "chat"), (vec![], false));
}

#[test]
fn a_room_whose_first_join_was_cut_has_no_members_and_is_not_stale() {
    let mut h = Harness::new(config());
    h.connect();
    h.accept();
    h.core.join("chat", None);
    h.drive();
    h.server_close(1006);
    assert_eq!(
        h.core.room("chat").map(|r| &r.state),
        Some(&RoomState::Joining)
    );
    assert_eq!(presence(&h, "chat"), (vec![], false));
}

#[test]
fn own_presence_set_while_rejoining_shows_once_rejoined() {
    let mut h = joined_with_three();
    h.server_close(1006);
    h.core.set_presence("chat", "away".into(), "away".into());
    h.drive();
    h.advance(100);
    h.accept();
    // The rejoin carries the new metadata; the server's list has it.
    assert_eq!(h.socket().joins[0].3.as_deref(), Some("away"));
    let mut own = member("s-1", "ann");
    own.meta = Some("away".into());
    joined(&mut h, "chat", vec![own, member("s-2", "bo")]);
    let room = h.core.room("chat").expect("room");
    assert!(!room.members_stale());
    assert_eq!(
        room.members.get("s-1").and_then(|m| m.meta.clone()),
        Some("away".into())
    );
}
