//! The client's exports: one `Driver` per JS `Client`, fed by the JS layer (`js/wasm/client.ts`)
//! and pumped by it after every input. The driver executes the core's actions through the host
//! imports (socket, token) and leaves events in the core for JS to poll, so no Rust frame is on
//! the stack while listeners run and call back in.

use super::frame::{self, Frame};
use super::out;
use super::value::{text, Val};
use crate::core::{
    Action, ClientCore, ClientError, Config, DisconnectPolicy, HeartbeatConfig, Mode,
    OverflowPolicy, PageEvent, QueueConfig, ReconnectConfig, RequestOptions, TokenSource, Transmit,
};
use crate::protocol::close_code;
use crate::protocol::codec::{decode_server_frame, ClientFrame, FrameClass, ServerFrame};
use crate::protocol::Inbound;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

pub type Core = ClientCore<Frame, Val>;

#[link(wasm_import_module = "h")]
extern "C" {
    /// `performance.now()`.
    fn now() -> f64;
    // The host: the JS client whose call into the module is running.
    /// Opens the socket to URL `url`: 0, or a string slot with why it failed.
    fn open(url: usize) -> u32;
    /// Sends on the socket: 0 sent, 1 not open, 2 refused.
    fn send(frame: u32) -> u32;
    /// Detaches the socket and closes it (when still connecting or open).
    fn close(code: u32, reason: *const u8, len: usize);
    /// The socket's `bufferedAmount`.
    fn buffered() -> f64;
    /// Calls the token function; the outcome comes back to `client_token`.
    fn token(request: f64);
    /// A field of the frame the socket's reader read last: see `Current`.
    fn current(what: u32) -> u32;
}

/// `current`'s fields.
#[repr(u32)]
enum Current {
    Payload,
    User,
    Room,
    Frame,
}

pub(super) fn now_ms() -> u64 {
    unsafe { now() as u64 }
}

fn current_val(what: Current) -> Val {
    Val::from_raw(unsafe { current(what as u32) })
}

pub struct Driver {
    pub core: Core,
    socket: bool,
    /// The room of the last room message received: a name crosses only when it changes.
    room: String,
}

impl Driver {
    fn buffered(&self) -> usize {
        unsafe { buffered() as usize }
    }

    fn close_socket(&mut self, code: u16, reason: &str) {
        if core::mem::take(&mut self.socket) {
            unsafe { close(code.into(), reason.as_ptr(), reason.len()) }
        }
    }

    /// Forgets a socket that died, counting what its send buffer still held.
    fn drop_dead_socket(&mut self) {
        if self.socket {
            self.core.handle_unsent_at_close(self.buffered());
            self.close_socket(close_code::NORMAL, "client dropped");
        }
    }

    fn execute_actions(&mut self) {
        loop {
            while let Some(action) = self.core.poll_action() {
                self.execute(action);
            }
            // After sends, and on the drain timer while writes are paused: report the send
            // buffer, which may release frames held back (executed on the next turn).
            if !(self.socket && self.core.needs_buffered_amount()) {
                break;
            }
            let amount = self.buffered();
            self.core.handle_buffered(now_ms(), amount);
        }
    }

    fn execute(&mut self, action: Action<Frame>) {
        match action {
            Action::Open { url } => {
                self.close_socket(close_code::NORMAL, "client dropped");
                match unsafe { open(url) } {
                    0 => self.socket = true,
                    failure => {
                        let reason = text(Val::from_raw(failure).raw());
                        self.core
                            .handle_socket_closed(now_ms(), close_code::ABNORMAL, &reason);
                    }
                }
            }
            Action::FetchToken { id } => match self.core.config().token {
                TokenSource::Fetch => unsafe { token(id as f64) },
                _ => self
                    .core
                    .handle_token(now_ms(), id, Err("no token function".into())),
            },
            Action::Close { code, reason } => {
                // A close the app asked for still sends what is buffered first.
                if self.socket && code != close_code::NORMAL && code != close_code::RECONNECT {
                    self.core.handle_unsent_at_close(self.buffered());
                }
                self.close_socket(code, &reason);
            }
            Action::Send(transmit) => self.send(transmit),
        }
    }

    fn send(&mut self, transmit: Transmit<Frame>) {
        let text = frame::encode(&transmit);
        let sent = match self.socket {
            true => unsafe { send(text.raw()) },
            false => 1,
        };
        if sent != 0 {
            // The socket died before its close event arrived, or refused the frame: give the
            // frame back before reporting the close, so it is queued again, not lost.
            self.core.return_unsent(transmit);
            self.drop_dead_socket();
            let reason = match sent {
                1 => "socket closed before send",
                _ => "send failed",
            };
            self.core
                .handle_socket_closed(now_ms(), close_code::ABNORMAL, reason);
        }
    }

    /// A frame the socket's reader read: `read` and `seq` as `openSocket` (js/wasm/wire.ts)
    /// reports them. True when the message goes to the app now (`ClientCore::handle_message`),
    /// read in JS.
    fn message(&mut self, read: f64, seq: f64, direct: bool) -> bool {
        if self.core.config().mode == Mode::Raw {
            // The value stays in JS: only its size and the pong verdict reach the core.
            let now = now_ms();
            let size = (read / 4.0) as usize;
            if !self.core.inbound_too_large(now, size) {
                let pong = match read % 4.0 {
                    0.0 => None,
                    verdict => Some(verdict == 2.0),
                };
                self.core
                    .handle_raw_frame(now, current_val(Current::Frame), size, pong);
            }
            return false;
        }
        let size = (read / 8.0) as usize;
        let class = FrameClass::from_code((read % 8.0) as i32 - 4).unwrap_or(FrameClass::NotJson);
        let message = || {
            let user = current_val(Current::User);
            (
                current_val(Current::Payload),
                (!user.is_undefined()).then_some(user),
            )
        };
        match class {
            FrameClass::Message => {
                return self
                    .core
                    .handle_message(now_ms, None, size, direct, message)
            }
            FrameClass::RoomMessage => {
                let mut seq = seq;
                if seq < 0.0 {
                    seq = -1.0 - seq;
                    self.room = text(current_val(Current::Room).raw());
                }
                let room = Some((self.room.as_str(), seq as u64));
                return self
                    .core
                    .handle_message(now_ms, room, size, direct, message);
            }
            _ => {}
        }
        let now = now_ms();
        if class == FrameClass::TooLarge {
            self.core.inbound_too_large(now, size);
        } else if class == FrameClass::Reply {
            // A missing payload reads as null, as in the shared codec.
            let payload = current_val(Current::Payload);
            let payload = match payload.is_undefined() {
                true => <Val as crate::doc::Json>::null(),
                false => payload,
            };
            let reply = Inbound::Reply {
                id: seq as u64,
                result: Ok(payload),
            };
            self.core.handle_inbound(now, reply, size);
        } else {
            let decoded = match class.malformed() {
                Some(error) => Err(error),
                None => decode_server_frame(&current_val(Current::Frame)),
            };
            match decoded {
                Ok(ServerFrame::Core(frame)) => self.core.handle_inbound(now, frame, size),
                #[cfg(feature = "docs")]
                Ok(ServerFrame::Doc(frame)) => self.core.handle_doc_frame(now, frame),
                Err(error) => self.core.handle_malformed(now, error.reason()),
            }
        }
        false
    }
}

/// The driver behind a pointer JS holds; JS never calls in with a freed one.
fn driver<'a>(client: *mut Driver) -> &'a mut Driver {
    unsafe { &mut *client }
}

/// The numbers `new Client` hands over (`js/wasm/options.ts` writes them here), in order:
/// connectTimeoutMs, maxMessageBytes, maxInboundBytes, maxBufferedBytes, seed, the six
/// `reconnect` numbers (maxAttempts -1: none), queue.maxMessages, queue.maxBytes, dropOldest,
/// heartbeat.intervalMs, heartbeat.timeoutMs.
static mut OPTIONS: [f64; 16] = [0.0; 16];

#[no_mangle]
pub extern "C" fn options() -> *mut f64 {
    core::ptr::addr_of_mut!(OPTIONS).cast()
}

/// A new client with the options in `options()`: `fetch` when there is a token function, else
/// `token`, a static token's string slot (0: none). Checked in JS, which throws `InvalidOptions`.
#[no_mangle]
pub extern "C" fn client_new(
    url_count: usize,
    raw: u32,
    fetch: u32,
    token: u32,
    user: u32,
    origin: u32,
) -> *mut Driver {
    let n = unsafe { OPTIONS };
    let optional = |h: u32| Val::optional(h).map(|v| text(v.raw()));
    let config = Config {
        mode: if raw != 0 { Mode::Raw } else { Mode::Resocket },
        connect_timeout_ms: n[0] as u64,
        max_message_bytes: n[1] as usize,
        max_inbound_bytes: n[2] as usize,
        max_buffered_bytes: n[3] as usize,
        seed: Some(n[4] as u64),
        reconnect: ReconnectConfig {
            initial_delay_ms: n[5] as u64,
            max_delay_ms: n[6] as u64,
            factor: n[7],
            jitter: n[8],
            stable_after_ms: n[9] as u64,
            max_attempts: (n[10] >= 0.0).then_some(n[10] as u32),
        },
        queue: QueueConfig {
            max_messages: n[11] as usize,
            max_bytes: n[12] as usize,
            overflow: match n[13] == 1.0 {
                true => OverflowPolicy::DropOldest,
                false => OverflowPolicy::Reject,
            },
        },
        heartbeat: HeartbeatConfig {
            interval_ms: n[14] as u64,
            timeout_ms: n[15] as u64,
        },
        user: optional(user),
        origin: optional(origin),
        token: match (fetch, optional(token)) {
            (0, Some(token)) => TokenSource::Static(token),
            (0, None) => TokenSource::None,
            _ => TokenSource::Fetch,
        },
        url_count,
    };
    let core = Core::with_checked_config(config, 0);
    Box::into_raw(Box::new(Driver {
        core,
        socket: false,
        room: String::new(),
    }))
}

/// Ends the client: its socket closes with its handlers detached (JS rejects pending calls).
#[no_mangle]
pub extern "C" fn client_free(client: *mut Driver) {
    let mut driver = unsafe { Box::from_raw(client) };
    driver.close_socket(close_code::NORMAL, "client freed");
}

/// Raw mode: the frames sent on every open (an array slot) and the ping frame (0: none).
#[no_mangle]
pub extern "C" fn client_raw_frames(client: *mut Driver, frames: u32, ping: u32) {
    let d = driver(client);
    let list = Val::from_raw(frames);
    let frames: Vec<Frame> = (0..list.len())
        .map(|i| Frame::sized(crate::protocol::codec::WireValue::item(&list, i)))
        .collect();
    d.core.set_open_frames(frames);
    if let Some(ping) = Val::optional(ping) {
        d.core.set_ping_frame(Some(Frame::sized(ping)));
    }
}

#[no_mangle]
pub extern "C" fn client_connect(client: *mut Driver) {
    driver(client).core.connect(now_ms());
}

#[no_mangle]
pub extern "C" fn client_reconnect(client: *mut Driver) {
    driver(client).core.reconnect(now_ms());
}

#[no_mangle]
pub extern "C" fn client_close(client: *mut Driver) {
    driver(client).core.close();
}

/// Executes the core's actions; returns the core's next deadline (-1: none) for JS's timer.
#[no_mangle]
pub extern "C" fn client_pump(client: *mut Driver) -> f64 {
    let d = driver(client);
    d.execute_actions();
    d.core.poll_timeout().map_or(-1.0, |t| t as f64)
}

#[no_mangle]
pub extern "C" fn client_timeout(client: *mut Driver) {
    driver(client).core.handle_timeout(now_ms());
}

/// The next event, its fields pushed out (`out::event`); -1 when there is none.
#[no_mangle]
pub extern "C" fn client_event(client: *mut Driver) -> i32 {
    match driver(client).core.poll_event() {
        Some(event) => out::event(event) as i32,
        None => -1,
    }
}

#[no_mangle]
pub extern "C" fn client_socket_open(client: *mut Driver) {
    driver(client).core.handle_socket_open(now_ms());
}

#[no_mangle]
pub extern "C" fn client_socket_closed(client: *mut Driver, code: u32, reason: u32) {
    let d = driver(client);
    let reason = text(Val::from_raw(reason).raw());
    d.drop_dead_socket();
    d.core.handle_socket_closed(now_ms(), code as u16, &reason);
}

#[no_mangle]
pub extern "C" fn client_message(client: *mut Driver, read: f64, seq: f64, direct: u32) -> u32 {
    driver(client).message(read, seq, direct != 0) as u32
}

/// Queues or sends an encoded frame (a string slot, or raw mode's frame). 0, or 1 with the
/// error pushed out.
#[no_mangle]
pub extern "C" fn client_send(client: *mut Driver, frame: u32) -> u32 {
    refused(driver(client).core.send(Frame::sized(Val::from_raw(frame))))
}

fn refused(result: Result<(), ClientError>) -> u32 {
    match result {
        Ok(()) => 0,
        Err(error) => {
            out::error(&error);
            1
        }
    }
}

/// Starts a request: its id, -1 when `params` has no JSON form (JS rejects with what
/// `JSON.stringify` threw), or -2 with the core's refusal pushed out. `timeout` -1: none, -2:
/// the default.
#[no_mangle]
pub extern "C" fn client_request(
    client: *mut Driver,
    method: u32,
    params: u32,
    timeout: f64,
    fail: u32,
) -> f64 {
    let d = driver(client);
    let id = d.core.allocate_request_id();
    let method = text(Val::from_raw(method).raw());
    let Some(frame) = Frame::client(ClientFrame::Req {
        id,
        method: &method,
        params: Val::optional(params),
    }) else {
        return -1.0;
    };
    let mut options = RequestOptions::default();
    if timeout != -2.0 {
        options.timeout_ms = (timeout >= 0.0).then_some(timeout as u64);
    }
    if fail != 0 {
        options.on_disconnect = DisconnectPolicy::Fail;
    }
    started(id, d.core.request(now_ms(), id, frame, options))
}

pub(super) fn started(id: u64, result: Result<(), ClientError>) -> f64 {
    match refused(result) {
        0 => id as f64,
        _ => -2.0,
    }
}

#[no_mangle]
pub extern "C" fn client_cancel(client: *mut Driver, id: f64) {
    driver(client).core.cancel_request(id as u64);
}

#[no_mangle]
pub extern "C" fn client_page(client: *mut Driver, code: u32) {
    if let Some(event) = PageEvent::from_code(code) {
        driver(client).core.handle_page(now_ms(), event);
    }
}

/// The token function's outcome for fetch `id`: with `ok`, the value it returned (a string,
/// else refused); without, the failure's message.
#[no_mangle]
pub extern "C" fn client_token(client: *mut Driver, id: f64, ok: u32, value: u32) {
    let value = Val::from_raw(value);
    let result = match (
        ok != 0,
        crate::protocol::codec::WireValue::as_string(&value),
    ) {
        (true, Some(token)) => Ok(token),
        (true, None) => Err("the token function must return a string or a Promise of one".into()),
        (false, reason) => Err(reason.unwrap_or_default()),
    };
    driver(client)
        .core
        .handle_token(now_ms(), id as u64, result);
}

#[no_mangle]
pub extern "C" fn client_state(client: *mut Driver) {
    out::state(driver(client).core.state());
}

/// Pushes the session id; 0 when there is none.
#[no_mangle]
pub extern "C" fn client_session(client: *mut Driver) -> u32 {
    driver(client).core.session().map(out::text).is_some() as u32
}

#[no_mangle]
pub extern "C" fn client_metrics(client: *mut Driver) {
    out::metrics(&driver(client).core.metrics(now_ms()));
}
