//! An honest bystander for the hostile-client tests (`server/tests/hostile.rs`): a member of a
//! room that pings the server on a steady cadence, and a publisher (a third client) that
//! publishes numbered messages into that room on the same cadence. While an attack runs, the
//! member records its worst ping round trip, its worst message delivery time and every missed
//! or out-of-order message; [`Honest::finish`] stops both, waits (bounded) for what is still in
//! flight and returns the figures, which [`Report::assert_served`] prints and checks.

use super::*;
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the member pings and the publisher publishes.
pub const CADENCE: Duration = Duration::from_millis(50);

/// The bound every ping and delivery must meet while an attack runs: generous, as the test
/// machine is shared, but far below what a stalled server or a dropped client would show.
pub const BOUND: Duration = Duration::from_secs(2);

/// The shortest span the honest clients run, however short the attack: enough pings and
/// messages to measure (about 20 of each).
pub const MIN_RUN: Duration = Duration::from_secs(1);

/// Frames larger than this are the attacker's (the honest frames are tiny): they are measured,
/// never parsed.
const SMALL_FRAME: usize = 4096;

/// What the honest member saw.
#[derive(Debug, Default)]
pub struct Report {
    pub pings: u64,
    /// Pings without a pong at the end.
    pub unanswered: u64,
    pub worst_ping: Duration,
    /// The median round trip of the answered pings.
    pub median_ping: Duration,
    /// Messages the publisher published.
    pub published: u64,
    /// Of those, delivered to the member.
    pub delivered: u64,
    /// Numbers skipped, and numbers that came after a higher one.
    pub missed: u64,
    pub out_of_order: u64,
    /// From the publisher's send to the member's receipt.
    pub worst_delivery: Duration,
    /// Largest frame the member received (an attacker's frame in a shared room).
    pub largest_frame: usize,
    /// A close or failure of the member's or the publisher's connection, or a refusal of one
    /// of their frames.
    pub trouble: Vec<String>,
}

impl Report {
    /// Prints the figures and asserts the honest clients were served within [`BOUND`] with
    /// nothing lost.
    pub fn assert_served(&self, attack: &str) {
        println!(
            "{attack}: honest client: {} pings (median {:.1} ms, worst {} ms, {} unanswered), \
             {}/{} messages (worst delivery {} ms, {} missed, {} out of order), largest frame \
             {} bytes",
            self.pings,
            self.median_ping.as_secs_f64() * 1000.0,
            self.worst_ping.as_millis(),
            self.unanswered,
            self.delivered,
            self.published,
            self.worst_delivery.as_millis(),
            self.missed,
            self.out_of_order,
            self.largest_frame,
        );
        assert!(self.trouble.is_empty(), "{attack}: {:?}", self.trouble);
        assert!(
            self.pings > 0 && self.published > 0,
            "{attack}: nothing measured: {self:?}"
        );
        assert_eq!(self.unanswered, 0, "{attack}: {self:?}");
        assert_eq!(
            (self.delivered, self.missed, self.out_of_order),
            (self.published, 0, 0),
            "{attack}: {self:?}"
        );
        assert!(self.worst_ping <= BOUND, "{attack}: {self:?}");
        assert!(self.worst_delivery <= BOUND, "{attack}: {self:?}");
    }
}

/// The running honest clients. Dropping it without [`Honest::finish`] aborts them.
pub struct Honest {
    /// `Some(n)` once the publisher has stopped after `n` messages.
    stop_member: watch::Sender<Option<u64>>,
    stop_publisher: watch::Sender<bool>,
    member: Option<JoinHandle<Report>>,
    publisher: Option<JoinHandle<(u64, Vec<String>)>>,
    started: Instant,
}

impl Drop for Honest {
    fn drop(&mut self) {
        if let Some(member) = self.member.take() {
            member.abort();
        }
        if let Some(publisher) = self.publisher.take() {
            publisher.abort();
        }
    }
}

impl Honest {
    /// Connects the member (user `honest`) and the publisher (user `honest-publisher`) to the
    /// server at `addr`, both in `room`, and starts them.
    pub async fn start(addr: SocketAddr, room: &str) -> Honest {
        let base = Instant::now();
        let mut member = connect_like_a_browser(addr, "honest").await;
        join_room(&mut member, room).await;
        let mut publisher = connect_like_a_browser(addr, "honest-publisher").await;
        join_room(&mut publisher, room).await;
        let (stop_member, member_stopped) = watch::channel(None);
        let (stop_publisher, publisher_stopped) = watch::channel(false);
        Honest {
            stop_member,
            stop_publisher,
            member: Some(tokio::spawn(listen(
                member,
                room.to_owned(),
                base,
                member_stopped,
            ))),
            publisher: Some(tokio::spawn(publish(
                publisher,
                room.to_owned(),
                base,
                publisher_stopped,
            ))),
            started: base,
        }
    }

    /// Stops the publisher (once they ran [`MIN_RUN`]), waits (bounded) for the member to
    /// receive what was published and its last pongs, and returns what the member saw.
    pub async fn finish(mut self) -> Report {
        tokio::time::sleep(MIN_RUN.saturating_sub(self.started.elapsed())).await;
        let _ = self.stop_publisher.send(true);
        let publisher = self.publisher.take().expect("running");
        let (published, trouble) = timeout(WAIT, publisher)
            .await
            .expect("the honest publisher stops in time")
            .expect("honest publisher");
        let _ = self.stop_member.send(Some(published));
        let member = self.member.take().expect("running");
        let mut report = timeout(WAIT + WAIT, member)
            .await
            .expect("the honest member finishes in time")
            .expect("honest member");
        report.published = published;
        report.trouble.extend(trouble);
        report
    }
}

/// A welcomed connection of `user` whose socket sends at once (`TCP_NODELAY`, as browsers
/// do), so round trips measure the server and not Nagle's algorithm.
async fn connect_like_a_browser(addr: SocketAddr, user: &str) -> Ws {
    let url = format!("ws://{addr}/ws");
    let (mut ws, _) = timeout(
        WAIT,
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    send(&mut ws, &hello(Some(user), None)).await;
    expect_kind(&mut ws, "welcome").await;
    ws
}

async fn join_room(ws: &mut Ws, room: &str) {
    let join = serde_json::json!({"kind": "join", "id": 1, "room": room});
    send(ws, &join.to_string()).await;
    loop {
        let frame = next_json(ws).await;
        match frame["kind"].as_str() {
            Some("joined") => return,
            Some("presence" | "msg") => continue,
            _ => panic!("honest join of {room} refused: {frame}"),
        }
    }
}

fn ms_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A frame's close or failure, as trouble.
fn ended(
    who: &str,
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> String {
    match message {
        Some(Ok(Message::Close(frame))) => format!("{who} closed: {frame:?}"),
        Some(Err(err)) => format!("{who} failed: {err}"),
        other => format!("{who} ended: {other:?}"),
    }
}

/// Publishes `{"honest":n,"at":ms}` (n from 0) every [`CADENCE`] until stopped, reading what
/// the room sends it meanwhile (a publisher that stopped reading would be given up). Returns
/// how many it published and any trouble (a refusal, a close).
async fn publish(
    mut ws: Ws,
    room: String,
    base: Instant,
    mut stopped: watch::Receiver<bool>,
) -> (u64, Vec<String>) {
    let mut ticks = tokio::time::interval(CADENCE);
    let mut published = 0u64;
    let mut trouble = Vec::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = ticks.tick() => {
                let frame = serde_json::json!({
                    "kind": "publish", "room": room,
                    "payload": {"honest": published, "at": ms_since(base)},
                });
                if let Err(err) = ws.send(Message::text(frame.to_string())).await {
                    trouble.push(format!("honest publisher could not send: {err}"));
                    break;
                }
                published += 1;
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) if text.len() <= SMALL_FRAME => {
                    let frame = json(text.as_str());
                    if frame["kind"] == "error" {
                        trouble.push(format!("honest publisher refused: {frame}"));
                    }
                }
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                other => {
                    trouble.push(ended("honest publisher", other));
                    break;
                }
            },
        }
    }
    close(ws).await;
    (published, trouble)
}

/// The member: pings every [`CADENCE`] and checks the publisher's messages, until told how
/// many were published; then it waits (bounded) for those and its pongs.
async fn listen(
    mut ws: Ws,
    room: String,
    base: Instant,
    mut stopped: watch::Receiver<Option<u64>>,
) -> Report {
    let mut report = Report::default();
    let mut ticks = tokio::time::interval(CADENCE);
    let mut in_flight: HashMap<u64, Instant> = HashMap::new();
    let mut round_trips: Vec<Duration> = Vec::new();
    let mut next_number = 0u64;
    let mut target: Option<u64> = None;
    let mut drain_deadline = tokio::time::Instant::now() + WAIT * 10;
    loop {
        if let Some(published) = target {
            if in_flight.is_empty() && next_number >= published {
                break;
            }
        }
        tokio::select! {
            _ = stopped.changed(), if target.is_none() => {
                target = *stopped.borrow();
                drain_deadline = tokio::time::Instant::now() + WAIT;
            }
            _ = tokio::time::sleep_until(drain_deadline) => break,
            _ = ticks.tick(), if target.is_none() => {
                report.pings += 1;
                let id = report.pings;
                in_flight.insert(id, Instant::now());
                let ping = format!(r#"{{"kind":"ping","id":{id}}}"#);
                if let Err(err) = ws.send(Message::text(ping)).await {
                    report.trouble.push(format!("honest member could not send: {err}"));
                    break;
                }
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    report.largest_frame = report.largest_frame.max(text.len());
                    if text.len() > SMALL_FRAME {
                        continue;
                    }
                    let frame = json(text.as_str());
                    match frame["kind"].as_str() {
                        Some("pong") => {
                            let sent = frame["id"].as_u64().and_then(|id| in_flight.remove(&id));
                            if let Some(sent) = sent {
                                round_trips.push(sent.elapsed());
                            }
                        }
                        Some("msg") if frame["room"] == room.as_str() => {
                            let payload = &frame["payload"];
                            let (Some(n), Some(at)) =
                                (payload["honest"].as_u64(), payload["at"].as_u64())
                            else {
                                continue; // Someone else's message in the room.
                            };
                            report.delivered += 1;
                            let latency = ms_since(base).saturating_sub(at);
                            report.worst_delivery =
                                report.worst_delivery.max(Duration::from_millis(latency));
                            if n < next_number {
                                report.out_of_order += 1;
                            } else {
                                report.missed += n - next_number;
                                next_number = n + 1;
                            }
                        }
                        Some("error") => {
                            report.trouble.push(format!("honest member refused: {frame}"));
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => {}
                other => {
                    report.trouble.push(ended("honest member", other));
                    break;
                }
            },
        }
    }
    round_trips.sort_unstable();
    report.median_ping = round_trips
        .get(round_trips.len() / 2)
        .copied()
        .unwrap_or_default();
    report.worst_ping = round_trips.last().copied().unwrap_or_default();
    // What is still unanswered counts at its age.
    report.unanswered = in_flight.len() as u64;
    for sent in in_flight.values() {
        report.worst_ping = report.worst_ping.max(sent.elapsed());
    }
    if let Some(published) = target {
        report.missed += published.saturating_sub(next_number);
    }
    close(ws).await;
    report
}
