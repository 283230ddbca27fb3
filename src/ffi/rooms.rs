//! Rooms: `client.join` and the `Room` handle's calls (`js/wasm/room.ts`). A room is named by a
//! string slot; JS counts nothing itself, the core's rooms are reference-counted.

use super::client::{started, Driver};
use super::frame::Frame;
use super::out;
use super::value::{text, Val};
use crate::protocol::codec::ClientFrame;

fn name(room: u32) -> alloc::string::String {
    text(Val::from_raw(room).raw())
}

/// Joins `room` with `meta` (JSON text slot, 0: none) and `history` (-1: none).
#[no_mangle]
pub extern "C" fn room_join(client: *mut Driver, room: u32, meta: u32, history: f64) {
    let meta = Val::optional(meta).map(Frame::sized);
    let history = (history >= 0.0).then_some(history as u64);
    let d = unsafe { &mut *client };
    d.core.join_with_history(&name(room), meta, history);
}

#[no_mangle]
pub extern "C" fn room_leave(client: *mut Driver, room: u32) {
    unsafe { &mut *client }.core.leave(&name(room));
}

/// Publishes `data`: the publish id, -1 when `data` has no JSON form, -2 with the refusal
/// pushed out (see `client_request`).
#[no_mangle]
pub extern "C" fn room_publish(client: *mut Driver, room: u32, data: u32) -> f64 {
    let d = unsafe { &mut *client };
    let id = d.core.allocate_request_id();
    let room = name(room);
    let Some(frame) = Frame::client(ClientFrame::Publish {
        id: Some(id),
        room: &room,
        payload: Val::from_raw(data),
    }) else {
        return -1.0;
    };
    started(id, d.core.publish(super::client::now_ms(), id, frame))
}

/// Sets this client's presence: `meta` as JSON text for the server, `local` the copy its own
/// member entry keeps.
#[no_mangle]
pub extern "C" fn room_presence(client: *mut Driver, room: u32, meta: u32, local: u32) {
    let d = unsafe { &mut *client };
    let meta = Frame::sized(Val::from_raw(meta));
    d.core.set_presence(&name(room), meta, Val::from_raw(local));
}

/// Pushes the room's state, then whether its members are stale and each member; 0 when this
/// client is not in the room.
#[no_mangle]
pub extern "C" fn room_read(client: *mut Driver, room: u32) -> u32 {
    let d = unsafe { &mut *client };
    let Some(room) = d.core.room(&name(room)) else {
        return 0;
    };
    out::room_state(&room.state);
    out::flag(room.members_stale());
    for member in room.members.values() {
        out::member(member);
    }
    1
}
