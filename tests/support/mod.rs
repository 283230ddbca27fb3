//! A virtual-time harness around the sans-IO core: it plays the driver, with a perfect in-memory
//! transport, so scenarios run deterministically and instantly.
#![allow(dead_code)]

use resocket::core::{Action, ClientCore, Config, Event, Inbound, Mode, Transmit, UserKind};
use resocket::protocol::{Hello, Welcome};

pub type Core = ClientCore<String, String>;

#[derive(Debug, Default)]
pub struct Socket {
    pub open: bool,
    pub hello: Option<Hello>,
    pub pings: Vec<u64>,
    pub pongs: Vec<u64>,
    /// (id, room, since, meta) of each join sent on this socket.
    pub joins: Vec<(u64, String, Option<u64>, Option<String>)>,
    /// The epoch each join in `joins` sent with its `since`.
    pub join_epochs: Vec<Option<String>>,
    /// The `history` of each join sent on this socket.
    pub join_histories: Vec<Option<u64>>,
    pub leaves: Vec<String>,
    pub presence: Vec<(String, String)>,
    /// Request ids sent on this socket, in order.
    pub requests: Vec<u64>,
    /// (id, doc, since) of each document sync sent on this socket.
    pub syncs: Vec<(u64, String, Option<u64>)>,
    /// The epoch each sync in `syncs` sent with its `since`.
    pub sync_epochs: Vec<Option<String>>,
    pub unsyncs: Vec<String>,
    /// (id, token) of each in-band token refresh sent on this socket.
    pub refreshes: Vec<(u64, String)>,
    /// Raw mode's own frames (open frames, pings) sent on this socket.
    pub raw: Vec<String>,
    /// Raw frames and user messages sent on this socket, in order.
    pub frames: Vec<String>,
}

pub struct Harness {
    pub core: Core,
    pub now: u64,
    /// The socket the driver currently holds, if any.
    pub socket: Option<Socket>,
    /// User frames the server received, across every socket, in order.
    pub delivered: Vec<String>,
    pub events: Vec<Event<String>>,
    pub opens: usize,
    /// The URL index of each `Open`, in order.
    pub open_urls: Vec<usize>,
    pub closes: Vec<(u16, String)>,
    /// Ids of the token fetches asked for and not answered yet.
    pub token_fetches: Vec<u64>,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        Harness {
            core: Core::new(config, 1).expect("valid config"),
            now: 0,
            socket: None,
            delivered: Vec::new(),
            events: Vec::new(),
            opens: 0,
            open_urls: Vec::new(),
            closes: Vec::new(),
            token_fetches: Vec::new(),
        }
    }

    /// Executes every pending action, as a prompt driver does after each call.
    pub fn drive(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::FetchToken { id } => self.token_fetches.push(id),
                Action::Open { url } => {
                    assert!(self.socket.is_none(), "open while a socket is held");
                    self.opens += 1;
                    self.open_urls.push(url);
                    self.socket = Some(Socket::default());
                }
                Action::Close { code, reason } => {
                    assert!(self.socket.take().is_some(), "close without a socket");
                    self.closes.push((code, reason));
                }
                Action::Send(transmit) => {
                    let socket = self.socket.as_mut().expect("send without a socket");
                    assert!(socket.open, "send before the socket opened");
                    match transmit {
                        Transmit::Hello(h) => socket.hello = Some(h),
                        Transmit::Ping { id } => socket.pings.push(id),
                        Transmit::Pong { id } => socket.pongs.push(id),
                        Transmit::Raw(frame) => {
                            socket.frames.push(frame.clone());
                            socket.raw.push(frame);
                        }
                        Transmit::User { frame, kind } => {
                            let raw = self.core.config().mode == Mode::Raw;
                            assert!(raw || socket.hello.is_some(), "user frame before hello");
                            match kind {
                                UserKind::Request(id) => socket.requests.push(id),
                                UserKind::Message | UserKind::DocOp => {
                                    socket.frames.push(frame.clone());
                                    self.delivered.push(frame)
                                }
                            }
                        }
                        Transmit::Join {
                            id,
                            room,
                            since,
                            epoch,
                            history,
                            meta,
                        } => {
                            socket.joins.push((id, room, since, meta));
                            socket.join_epochs.push(epoch);
                            socket.join_histories.push(history);
                        }
                        Transmit::Leave { room, .. } => socket.leaves.push(room),
                        Transmit::Presence { room, meta } => socket.presence.push((room, meta)),
                        Transmit::Sync {
                            id,
                            doc,
                            since,
                            epoch,
                        } => {
                            socket.syncs.push((id, doc, since));
                            socket.sync_epochs.push(epoch);
                        }
                        Transmit::Unsync { doc, .. } => socket.unsyncs.push(doc),
                        Transmit::Refresh { id, token } => socket.refreshes.push((id, token)),
                    }
                }
            }
        }
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
    }

    pub fn connect(&mut self) {
        self.core.connect(self.now);
        self.drive();
    }

    /// Completes the transport open and the handshake on the pending socket.
    pub fn accept(&mut self) {
        self.open_socket();
        self.welcome();
    }

    /// Completes the transport open; the client sends its hello.
    pub fn open_socket(&mut self) {
        let socket = self.socket.as_mut().expect("a socket to accept");
        socket.open = true;
        self.core.handle_socket_open(self.now);
        self.drive();
    }

    pub fn socket(&self) -> &Socket {
        self.socket.as_ref().expect("a socket")
    }

    /// Welcomes like a server that still knows the session the client asks to resume.
    pub fn welcome(&mut self) {
        let resume = self
            .socket
            .as_ref()
            .and_then(|s| s.hello.as_ref())
            .and_then(|h| h.resume.clone());
        match resume {
            Some(resume) => self.welcome_session(&resume.session, true),
            None => self.welcome_session("s-1", false),
        }
    }

    pub fn welcome_session(&mut self, session: &str, resumed: bool) {
        let welcome = Welcome {
            version: 1,
            session: session.into(),
            token: format!("token-{session}"),
            resumed,
            // As the server does: one origin per session, kept when it is resumed.
            origin: Some(format!("o-{session}")),
            expires_in: None,
            request_window: None,
        };
        self.welcome_with(welcome);
    }

    pub fn welcome_with(&mut self, welcome: Welcome) {
        self.core
            .handle_inbound(self.now, Inbound::Welcome(welcome), 0);
        self.drive();
    }

    /// Answers the oldest token fetch asked for, as the token function would.
    pub fn answer_token(&mut self, result: Result<&str, &str>) {
        assert!(!self.token_fetches.is_empty(), "no token fetch to answer");
        let id = self.token_fetches.remove(0);
        let result = result.map(str::to_owned).map_err(str::to_owned);
        self.core.handle_token(self.now, id, result);
        self.drive();
    }

    pub fn server_close(&mut self, code: u16) {
        if self.socket.take().is_some() {
            self.core
                .handle_socket_closed(self.now, code, "server closed");
            self.drive();
        }
    }

    pub fn send(&mut self, text: &str) -> Result<(), resocket::core::ClientError> {
        let result = self.core.send(text.to_owned());
        self.drive();
        result
    }

    pub fn receive(&mut self, frame: Inbound<String>) {
        self.core.handle_inbound(self.now, frame, 10);
        self.drive();
    }

    /// Moves virtual time forward to `until`, firing every deadline on the way.
    pub fn advance_to(&mut self, until: u64) {
        while let Some(at) = self.core.poll_timeout() {
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            self.drive();
        }
        self.now = self.now.max(until);
    }

    pub fn advance(&mut self, ms: u64) {
        self.advance_to(self.now + ms);
    }

    pub fn state_name(&self) -> &'static str {
        self.core.state().name()
    }

    pub fn take_events(&mut self) -> Vec<Event<String>> {
        std::mem::take(&mut self.events)
    }
}
