//! The engine: the boundary between the protocol and application code and the server's shared
//! state. Every method may be a remote round trip (a store shared by several server nodes), so
//! each returns a `Send` future; callers are generic over `E: Engine`.
//!
//! An engine carries out the deliveries its operations cause itself (to local connections, or
//! through the store to other nodes) and keeps each room's and document's frames in order for
//! every recipient. Callers only get what they must answer on their own connection.
//!
//! Every method can fail with [`EngineError`]: besides the refusals of the state's rules, a
//! remote engine reports [`EngineError::Unavailable`] when its store cannot be reached.

use super::dedup::Seen;
use super::delivery::{ConnId, Delivery};
use super::docs::{ClientOp, Entries, OpOutcome, ServerOpOutcome};
use super::epoch::Since;
use super::error::EngineError;
use super::sessions::{Actor, Opened};
use axum::extract::ws::Utf8Bytes;
use resocket::doc::Op;
use resocket::protocol::{Member, Resume};
use serde_json::value::RawValue;
use serde_json::Value;
use std::future::Future;

/// The result of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub seq: u64,
    /// Members the message was delivered to.
    pub members: usize,
}

/// Counters for `/control/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateStats {
    /// Sessions that can still be resumed.
    pub sessions: usize,
    /// Rooms with at least one member.
    pub rooms: usize,
    /// Documents held.
    pub docs: usize,
}

pub trait Engine: Send + Sync + 'static {
    /// Attaches `conn`, opened by `user`, to the session `resume` names (if its token and user
    /// match) or to a new one. The caller closes the connection it replaces.
    fn open_session(
        &self,
        conn: ConnId,
        user: Option<&str>,
        resume: Option<&Resume>,
    ) -> impl Future<Output = Result<Opened, EngineError>> + Send;

    /// A connection ended: it leaves its rooms and documents, and its session's TTL starts.
    fn disconnect(&self, who: &Actor) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Looks request `id` of `session` up; a new one is marked running.
    fn begin_request(
        &self,
        session: &str,
        id: u64,
    ) -> impl Future<Output = Result<Seen<Utf8Bytes>, EngineError>> + Send;

    /// Caches the reply of a running request that the caller writes itself.
    fn finish_request(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Caches the reply of a request that finished later and delivers it to the session's
    /// connection of this moment (so a resume cannot miss it); false if it has none.
    fn finish_request_later(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> impl Future<Output = Result<bool, EngineError>> + Send;

    /// Joins room `room`: the `joined` frame and the replay after `since` (when it counts in
    /// the room's epoch; or, without it, of the newest `history` messages) for the caller to
    /// write; the other members are told.
    fn join(
        &self,
        who: &Actor,
        id: Option<u64>,
        room: &str,
        since: Option<Since>,
        history: Option<u64>,
        meta: Option<Box<RawValue>>,
    ) -> impl Future<Output = Result<Vec<Utf8Bytes>, EngineError>> + Send;

    /// Leaves `room`; true if the connection was a member.
    fn leave(
        &self,
        who: &Actor,
        room: &str,
    ) -> impl Future<Output = Result<bool, EngineError>> + Send;

    /// Appends `payload` to `room` on behalf of a member and delivers it.
    fn publish(
        &self,
        who: &Actor,
        room: &str,
        payload: &RawValue,
    ) -> impl Future<Output = Result<Published, EngineError>> + Send;

    /// Appends `payload` to `room` on behalf of the server, creating the room if needed.
    fn publish_as_server(
        &self,
        room: &str,
        payload: &RawValue,
    ) -> impl Future<Output = Result<Published, EngineError>> + Send;

    /// The members of `room` in join order (none for a room that does not exist).
    fn presence(
        &self,
        room: &str,
    ) -> impl Future<Output = Result<Vec<Member<Box<RawValue>>>, EngineError>> + Send;

    /// The newest `limit` messages `room` holds, as encoded `msg` frames, oldest first.
    fn history(
        &self,
        room: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Utf8Bytes>, EngineError>> + Send;

    /// Replaces a member's presence metadata.
    fn set_meta(
        &self,
        who: &Actor,
        room: &str,
        meta: Box<RawValue>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Subscribes `conn` to document `doc` and returns what it must write: the frames
    /// `queued()` hands back (what was already queued for the connection, taken at the moment
    /// of the subscription so it is written first), then the catch-up after `since` (a
    /// snapshot when `since` does not count in the document's epoch).
    fn sync<Q>(
        &self,
        conn: ConnId,
        id: Option<u64>,
        doc: &str,
        since: Option<Since>,
        queued: Q,
    ) -> impl Future<Output = Result<Vec<Utf8Bytes>, EngineError>> + Send
    where
        Q: FnOnce() -> Vec<Utf8Bytes> + Send;

    /// Ends `conn`'s subscription to `doc`; true if it was subscribed.
    fn unsync(
        &self,
        conn: ConnId,
        doc: &str,
    ) -> impl Future<Output = Result<bool, EngineError>> + Send;

    /// Applies a client op once per `(origin, cseq)` and delivers the answers. `owner` is the
    /// origin of `conn`'s session: an op under another is refused `forbidden` (see [`Docs::op`]).
    ///
    /// [`Docs::op`]: super::docs::Docs::op
    fn op(
        &self,
        conn: ConnId,
        owner: &str,
        doc: &str,
        op: &ClientOp,
    ) -> impl Future<Output = Result<OpOutcome, EngineError>> + Send;

    /// Applies an op made by the server (the server API) to `doc`, creating it if needed, and
    /// delivers it to the subscribers like a client op.
    fn server_op(
        &self,
        doc: &str,
        op: &Op<Value>,
    ) -> impl Future<Output = Result<ServerOpOutcome, EngineError>> + Send;

    /// A document's revision and entries; `None` if it does not exist.
    fn doc_state(
        &self,
        doc: &str,
    ) -> impl Future<Output = Result<Option<(u64, Entries)>, EngineError>> + Send;

    /// Sends a frame that no state operation caused (broadcasts, notifications, fills);
    /// returns how many connections got it.
    fn deliver(
        &self,
        delivery: Delivery,
    ) -> impl Future<Output = Result<usize, EngineError>> + Send;

    fn stats(&self) -> impl Future<Output = Result<StateStats, EngineError>> + Send;
}
