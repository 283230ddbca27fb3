//! Client options with their defaults and `Config::validate`. Deserializable with serde
//! (camelCase) for native users; the browser reads and checks its JS options in JS
//! (`clientOptions` in js/wasm/options.ts, the same defaults, rules and messages).

use super::text::Text;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Every option of the client. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// The wire: the resocket protocol, or raw frames to any WebSocket server.
    pub mode: Mode,
    pub reconnect: ReconnectConfig,
    pub queue: QueueConfig,
    pub heartbeat: HeartbeatConfig,
    /// Time allowed from opening the socket to the server's `welcome`.
    pub connect_timeout_ms: u64,
    /// Largest message `send` accepts, in bytes of the encoded frame.
    pub max_message_bytes: usize,
    /// Largest frame the client reads from the server, in UTF-8 bytes: a larger one is dropped
    /// unparsed, counted (`oversized_frames`) and reported as `MalformedFrame`.
    pub max_inbound_bytes: usize,
    /// Messages and requests go to the socket only while its send buffer (`bufferedAmount`,
    /// as the driver reports it) holds less than this many bytes; the rest wait in the offline
    /// queue, so a socket that dies loses at most about this much.
    pub max_buffered_bytes: usize,
    /// Seed for backoff jitter. Drivers set it from a real entropy source unless the app fixes it.
    pub seed: Option<u64>,
    /// User id announced in `hello` (for user-addressed notifications and presence).
    pub user: Option<String>,
    /// This client's id in document ops until the server assigns one (`welcome.origin`); none
    /// by default (never derived from the seed).
    pub origin: Option<String>,
    /// Where the token sent in `hello` comes from.
    pub token: TokenSource,
    /// How many URLs the driver was given, at least 1 (the list itself stays with the driver):
    /// after a failed attempt or a drop the next attempt goes to the next one, round the list.
    /// Set by the driver from its URL argument, so it is not an option the app passes.
    #[serde(skip, default = "one")]
    pub url_count: usize,
}

fn one() -> usize {
    1
}

/// What the client speaks on the socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// The resocket protocol: hello/welcome, sessions, rooms, requests, documents.
    #[default]
    Resocket,
    /// Any WebSocket server: the socket's open event means open, frames are the app's own
    /// (no envelope), and the heartbeat runs only with a ping frame (`set_ping_frame`).
    Raw,
}

/// The credential a connection presents in `hello`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenSource {
    /// No token.
    #[default]
    None,
    /// The same token on every attempt. It cannot be refreshed, and a refusal (close 4401)
    /// stops the client.
    Static(String),
    /// The driver fetches a token before every attempt and before the token expires
    /// ([`Action::FetchToken`](super::Action::FetchToken)); a refusal is retried with backoff.
    Fetch,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Resocket,
            reconnect: ReconnectConfig::default(),
            queue: QueueConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            connect_timeout_ms: 10_000,
            max_message_bytes: 1024 * 1024,
            max_inbound_bytes: 4 * 1024 * 1024,
            max_buffered_bytes: 1024 * 1024,
            seed: None,
            user: None,
            origin: None,
            token: TokenSource::None,
            url_count: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconnectConfig {
    /// Delay before the first retry, before jitter.
    pub initial_delay_ms: u64,
    /// Cap of the exponential delay; jitter is applied after capping so delays stay spread.
    pub max_delay_ms: u64,
    /// Growth factor per failed attempt (at least 1).
    pub factor: f64,
    /// Fraction of the delay that is randomised, in `[0, 1]`: the delay is drawn uniformly from
    /// `[d * (1 - jitter), d]`. 1 is "full jitter", 0 disables jitter.
    pub jitter: f64,
    /// Consecutive failed attempts after which the client gives up; `None` retries forever.
    pub max_attempts: Option<u32>,
    /// A connection that stays open this long resets the attempt counter.
    pub stable_after_ms: u64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            initial_delay_ms: 500,
            max_delay_ms: 30_000,
            factor: 2.0,
            jitter: 0.5,
            max_attempts: None,
            stable_after_ms: 5_000,
        }
    }
}

/// What `send` does when the offline queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OverflowPolicy {
    /// Refuse the new message with a `QueueFull` error.
    Reject,
    /// Drop the oldest queued messages to make room and report them in a `dropped` event.
    DropOldest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueConfig {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub overflow: OverflowPolicy,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_messages: 1_000,
            max_bytes: 1024 * 1024,
            overflow: OverflowPolicy::Reject,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Time between pings while open; 0 disables the heartbeat.
    pub interval_ms: u64,
    /// A ping unanswered this long declares the connection dead.
    pub timeout_ms: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval_ms: 15_000,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    Factor(f64),
    Jitter(f64),
    DelayOrder {
        initial: u64,
        max: u64,
    },
    Zero(&'static str),
    /// The driver was given no URL to connect to.
    NoUrl,
    /// An option that has no meaning in raw mode (there is no `hello` to carry a token).
    NotInRaw(&'static str),
}

impl ConfigError {
    /// The human-readable message, built without `core::fmt` (floats would cost ~17 KB of WASM,
    /// so their values are not printed).
    pub fn message(&self) -> String {
        match self {
            ConfigError::Factor(_) => Text::new("reconnect.factor must be a finite number >= 1"),
            ConfigError::Jitter(_) => Text::new("reconnect.jitter must be within [0, 1]"),
            ConfigError::DelayOrder { initial, max } => Text::new("reconnect.maxDelayMs (")
                .num(*max)
                .add(") must be >= reconnect.initialDelayMs (")
                .num(*initial)
                .add(")"),
            ConfigError::Zero(name) => Text::new(name).add(" must be greater than 0"),
            ConfigError::NoUrl => Text::new("the url list is empty"),
            ConfigError::NotInRaw(name) => Text::new(name).add(" is not available in raw mode"),
        }
        .done()
    }
}

impl core::error::Error for ConfigError {}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message())
    }
}

impl Config {
    /// Checks the options for values that have no sensible meaning.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.reconnect;
        if !r.factor.is_finite() || r.factor < 1.0 {
            return Err(ConfigError::Factor(r.factor));
        }
        if !(0.0..=1.0).contains(&r.jitter) {
            return Err(ConfigError::Jitter(r.jitter));
        }
        if r.max_delay_ms < r.initial_delay_ms {
            return Err(ConfigError::DelayOrder {
                initial: r.initial_delay_ms,
                max: r.max_delay_ms,
            });
        }
        let positive = [
            ("queue.maxMessages", self.queue.max_messages as u64),
            ("queue.maxBytes", self.queue.max_bytes as u64),
            ("maxMessageBytes", self.max_message_bytes as u64),
            ("maxInboundBytes", self.max_inbound_bytes as u64),
            ("maxBufferedBytes", self.max_buffered_bytes as u64),
            ("connectTimeoutMs", self.connect_timeout_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero(name));
        }
        if self.url_count == 0 {
            return Err(ConfigError::NoUrl);
        }
        if self.heartbeat.interval_ms > 0 && self.heartbeat.timeout_ms == 0 {
            return Err(ConfigError::Zero("heartbeat.timeoutMs"));
        }
        if self.mode == Mode::Raw && self.token != TokenSource::None {
            return Err(ConfigError::NotInRaw("token"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(Config::default().validate(), Ok(()));
        let mut c = Config::default();
        c.reconnect.jitter = 1.5;
        assert_eq!(c.validate(), Err(ConfigError::Jitter(1.5)));
        let mut c = Config::default();
        c.reconnect.max_delay_ms = 10;
        assert!(matches!(c.validate(), Err(ConfigError::DelayOrder { .. })));
        let mut c = Config::default();
        c.queue.max_messages = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("queue.maxMessages")));
        let c = Config {
            url_count: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::NoUrl));
    }

    /// The browser reads and checks its options in JS (`clientOptions` in js/wasm/options.ts),
    /// with these defaults, in the order its table gives them (the order `client_new` in
    /// src/ffi/client.rs reads).
    #[test]
    fn the_browser_options_have_the_same_defaults() {
        let glue = include_str!("../../js/wasm/options.ts");
        let c = Config::default();
        let (r, q, h) = (&c.reconnect, &c.queue, &c.heartbeat);
        assert_eq!((c.seed, r.max_attempts), (None, None), "-1 in options.ts");
        assert_eq!(q.overflow, OverflowPolicy::Reject);
        for line in
            [
                format!(
                "  options: {{ connectTimeoutMs: {}, maxMessageBytes: {}, maxInboundBytes: {}, \
                 maxBufferedBytes: {}, seed: -1 }},",
                c.connect_timeout_ms, c.max_message_bytes, c.max_inbound_bytes, c.max_buffered_bytes
            ),
                format!(
                    "  reconnect: {{ initialDelayMs: {}, maxDelayMs: {}, factor: {}, jitter: {}, \
                 stableAfterMs: {}, maxAttempts: -1 }},",
                    r.initial_delay_ms, r.max_delay_ms, r.factor, r.jitter, r.stable_after_ms
                ),
                format!(
                    "  queue: {{ maxMessages: {}, maxBytes: {} }},",
                    q.max_messages, q.max_bytes
                ),
                format!(
                    "  heartbeat: {{ intervalMs: {}, timeoutMs: {} }},",
                    h.interval_ms, h.timeout_ms
                ),
            ]
        {
            assert!(glue.contains(&line), "options.ts should say {line}");
        }
    }
}
