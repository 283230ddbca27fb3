//! Server configuration and its command line (`clap` derive, every option also read from a
//! `RESOCKET_*` environment variable; the auth, permission and backend flags are
//! [`AuthArgs`](crate::auth::AuthArgs), flattened in).

use super::api::DEFAULT_MAX_BODY_BYTES;
use crate::auth::{
    ApiKey, AuthArgs, AuthPolicy, Namespaces, OriginPolicy, RpcSetup, SharedSecret, TokenSigner,
};
use crate::error::ServerError;
use crate::protocol::admission::ConnectionLimits;
use crate::protocol::budgets::Budgets;
use crate::protocol::hub::DEFAULT_OUTBOUND_BYTES;
use crate::protocol::rates::{Class, RateLimits};
use crate::state::{DedupLimits, RedisSettings, StateLimits};
use clap::Parser;
use resocket::protocol::DEFAULT_MAX_FRAME_BYTES;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The WebSocket library's own limit is this many times `max_frame_bytes`: frames between the two
/// limits get a `too_large` error frame, frames beyond it close the connection with 1009.
pub const HARD_LIMIT_FACTOR: usize = 4;

pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(5000);
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_millis(25_000);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(60_000);
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_millis(10_000);
/// No limit per IP by default: behind a reverse proxy every client has the proxy's address.
pub const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = ConnectionLimits {
    total: 100_000,
    per_ip: 0,
    per_user: 64,
};
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_millis(30_000);
pub const DEFAULT_HISTORY: usize = 100;
pub const DEFAULT_DOC_HISTORY: usize = 1000;
pub const DEFAULT_FEED_INTERVAL: Duration = Duration::from_millis(500);

/// Largest `--history` and `--doc-history` accepted, so a typo cannot make every room or
/// document hold millions of frames.
pub const MAX_HISTORY: usize = 100_000;

/// What `--help` prints after the options.
const ENDPOINTS: &str = "\
ENDPOINTS:
    GET  /ws                          WebSocket, protocol v1 (JSON text frames); the Origin header
                                      must pass --allowed-origin (403 otherwise)
    POST /control/drop?outage_ms=N    drop every socket without a close frame, refuse upgrades
                                      with 503 for N ms
    POST /control/malformed           send `this is not json{` to every open connection
    POST /control/send                send the request body as one text frame to every open connection
    POST /control/notify[?user=U]     send the JSON body as a notify payload to every connection of
                                      user U (or to every open connection)
    POST /control/publish?room=R      publish the JSON body to room R as if by a member
    POST /control/flood?count=N&pad=P[&room=R]
                                      send N numbered msg frames (room messages of R,
                                      seq 1..N) to every open connection
    GET  /control/doc?name=N          document N as {rev, entries} (404 if unknown)
    GET  /control/stats               connection, session, room and document counters as JSON
    GET  /demo/token?user=U           (--demo without a JWT key) a dev token for user U, signed
                                      with the secret generated at start: {token, user, expiresIn}
    GET  /demo/control-secret         (--demo with --test-controls) the control secret, to the
                                      demo's own pages only (same origin, loopback)
    /api/v1/...                       the server API for app backends (with an API key)
    The /control/* endpoints exist only with --test-controls; every call needs the header
    X-Resocket-Control-Secret (403 without it) and a loopback peer; CORS answers the origins
    --allowed-origin allows.

AUTHENTICATION: the server refuses to start without a mode: a JWT key (--jwt-secret-file,
--jwt-secret-env, $RESOCKET_JWT_SECRET or --jwt-public-key), --allow-anonymous, or
--insecure-trust-client-user (demos and tests only). See docs/AUTH.md.

Logging level: RUST_LOG=error|warn|info|debug|trace (default info).
";

/// The full `--help` text.
pub fn usage() -> String {
    use clap::CommandFactory;
    Cli::command().render_long_help().to_string()
}

/// How connections are authenticated and which may connect, and what they may do.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How a `hello` becomes an identity.
    pub policy: AuthPolicy,
    /// Which `Origin`s may open `/ws`.
    pub origins: OriginPolicy,
    /// Per-namespace permissions (`--config`).
    pub namespaces: Namespaces,
}

impl Default for AuthConfig {
    /// Anonymous connections only, same-host or loopback origins, default namespaces. The
    /// command line never uses this: it refuses to start without an explicit mode.
    fn default() -> Self {
        AuthConfig {
            policy: AuthPolicy::anonymous(),
            origins: OriginPolicy::default(),
            namespaces: Namespaces::default(),
        }
    }
}

/// Everything the server needs to run. `Default` gives the documented CLI defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where `Server::start` binds. Ignored by `serve`, which takes a bound listener.
    pub addr: SocketAddr,
    /// Directory served for non-WebSocket, non-control GETs.
    pub static_dir: Option<PathBuf>,
    /// Soft frame limit: larger frames are answered with a `too_large` error frame.
    pub max_frame_bytes: usize,
    /// How long a new connection may take to send its `hello`.
    pub handshake_timeout: Duration,
    /// A WebSocket ping goes to a peer quiet this long (zero: none).
    pub ping_interval: Duration,
    /// A peer quiet this long (no frame, no pong) is closed with 4003 (zero: never).
    pub idle_timeout: Duration,
    /// Longest a write to a socket may take before the connection is given up on.
    pub write_timeout: Duration,
    /// Bytes queued for one connection before it counts as a slow consumer and is dropped.
    pub max_outbound_bytes: usize,
    /// Most connections in total, per client IP and per user (0: no limit).
    pub connection_limits: ConnectionLimits,
    /// Token buckets per frame class, per connection (a user: twice as much).
    pub rate_limits: RateLimits,
    /// Rooms, documents and presence metadata per connection.
    pub budgets: Budgets,
    /// Byte and count budgets of rooms' histories and documents, idle eviction.
    pub state_limits: StateLimits,
    /// How long shutdown waits for clients to answer the 1001 close before dropping them.
    pub shutdown_grace: Duration,
    /// How long a session can be resumed after its last connection ended.
    pub session_ttl: Duration,
    /// Each session's request de-duplication: replies kept (by count and bytes) and requests
    /// running; its window is advertised in `welcome`.
    pub dedup: DedupLimits,
    /// Messages kept per room for replay to rejoining members, where the room's namespace
    /// sets no `history_size`.
    pub history: usize,
    /// Period of the `prices` feed; zero disables it.
    pub feed_interval: Duration,
    /// Applied ops kept per document for replay to syncing clients.
    pub doc_history: usize,
    /// Demo mode: the demo request methods and the price feed.
    pub demo: bool,
    /// The server API; `None`: off.
    pub api: Option<ApiSettings>,
    /// Forwarding of requests no local method handles; `None`: they answer `not_found`.
    pub rpc: Option<RpcSetup>,
    /// Authentication, origins and permissions.
    pub auth: AuthConfig,
    /// `--test-controls`: `/control/*` is routed and each call must carry this secret.
    pub control_secret: Option<SharedSecret>,
    /// `--demo` without a JWT key: signs the dev tokens `/demo/token` hands out (with the
    /// secret the verifier checks).
    pub dev_tokens: Option<TokenSigner>,
    /// `--redis`: the state is shared with the other nodes through this Redis; `None`: the
    /// memory engine (one node).
    pub redis: Option<RedisSettings>,
}

/// The server API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub key: ApiKey,
    /// A separate listener for the API; `None`: on the main listener.
    pub addr: Option<SocketAddr>,
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            static_dir: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            ping_interval: DEFAULT_PING_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_outbound_bytes: DEFAULT_OUTBOUND_BYTES,
            connection_limits: DEFAULT_CONNECTION_LIMITS,
            rate_limits: RateLimits::default(),
            budgets: Budgets::default(),
            state_limits: StateLimits::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            session_ttl: DEFAULT_SESSION_TTL,
            dedup: DedupLimits::default(),
            history: DEFAULT_HISTORY,
            feed_interval: DEFAULT_FEED_INTERVAL,
            doc_history: DEFAULT_DOC_HISTORY,
            demo: false,
            api: None,
            rpc: None,
            auth: AuthConfig::default(),
            control_secret: None,
            dev_tokens: None,
            redis: None,
        }
    }
}

impl ServerConfig {
    /// How many requests (and acknowledged publishes) a client may have in flight, advertised
    /// in `welcome`: the de-duplication window, and no more than one connection's request
    /// bucket holds, so that sending a full window at once is neither refused as busy nor
    /// rate limited.
    pub fn request_window(&self) -> u64 {
        let window = self.dedup.window() as u64;
        match self.rate_limits.rate(Class::Request) {
            Some(rate) => window.min(u64::from(rate.burst.get())),
            None => window,
        }
    }

    /// The WebSocket library's hard limit; `parse_args` guarantees it does not overflow.
    pub fn hard_frame_limit(&self) -> usize {
        self.max_frame_bytes.saturating_mul(HARD_LIMIT_FACTOR)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone)]
// Parsed once at start; boxing the config would only complicate every caller.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Run(ServerConfig),
    /// `--help` (or `--version`): print the text and exit successfully.
    Help(String),
}

/// The command line, as `clap` sees it.
#[derive(Debug, Parser)]
#[command(
    name = "resocket-server",
    about = "resocket-server: server for the resocket protocol v1",
    after_long_help = ENDPOINTS,
    after_help = ENDPOINTS
)]
struct Cli {
    /// Listen address (port 0 picks a free port)
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "RESOCKET_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    addr: SocketAddr,

    /// Serve files from DIR for every other GET (index.html for /)
    #[arg(long = "static", value_name = "DIR", env = "RESOCKET_STATIC", value_parser = non_empty_path)]
    static_dir: Option<PathBuf>,

    /// Frames larger than N get a too_large error frame; frames larger than 4*N close the
    /// connection with 1009
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_FRAME_BYTES", default_value_t = DEFAULT_MAX_FRAME_BYTES, value_parser = frame_bytes)]
    max_frame_bytes: usize,

    /// Close with 4002 when no hello arrives within N ms; also the time an HTTP request head
    /// may take (the first from the accept, a keep-alive one from its first byte)
    #[arg(long, value_name = "N", env = "RESOCKET_HANDSHAKE_TIMEOUT_MS", default_value_t = 5000, value_parser = at_least_one)]
    handshake_timeout_ms: u64,

    /// Most connections at once; more are refused with 503 before the upgrade (0: no limit)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_CONNECTIONS", default_value_t = DEFAULT_CONNECTION_LIMITS.total)]
    max_connections: usize,

    /// Most connections from one client address (503 beyond; 0: no limit). Behind a reverse
    /// proxy every client has the proxy's address: limit there instead
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_CONNECTIONS_PER_IP", default_value_t = DEFAULT_CONNECTION_LIMITS.per_ip)]
    max_connections_per_ip: usize,

    /// Most connections of one user (a hello beyond is closed with 1013; 0: no limit)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_CONNECTIONS_PER_USER", default_value_t = DEFAULT_CONNECTION_LIMITS.per_user)]
    max_connections_per_user: usize,

    /// Rooms one connection may be in (a join beyond is refused rate_limited)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_ROOMS_PER_CONNECTION", default_value_t = Budgets::default().rooms_per_connection, value_parser = at_least_one_usize)]
    max_rooms_per_connection: usize,

    /// Documents one connection may sync (a sync beyond is refused rate_limited)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_DOCS_PER_CONNECTION", default_value_t = Budgets::default().docs_per_connection, value_parser = at_least_one_usize)]
    max_docs_per_connection: usize,

    /// Largest presence metadata of a member, in bytes of JSON (larger: too_large)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_PRESENCE_BYTES", default_value_t = Budgets::default().meta_bytes, value_parser = at_least_one_usize)]
    max_presence_bytes: usize,

    /// Bytes queued for one connection that reads too slowly before it is dropped without a
    /// close frame (1006), like one with 1024 frames queued; an empty queue takes any frame
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_OUTBOUND_BYTES", default_value_t = DEFAULT_OUTBOUND_BYTES, value_parser = at_least_one_usize)]
    max_outbound_bytes: usize,

    /// Token buckets per frame class and connection, `class=rate/burst,...` (per second; a
    /// user gets twice as much over its connections), or `off`. Classes: publish, broadcast,
    /// presence, request, op, join (join and sync), bytes (KiB of publish and broadcast payloads)
    #[arg(long, value_name = "SPEC", env = "RESOCKET_RATE_LIMITS", default_value_t = RateLimits::default())]
    rate_limits: RateLimits,

    /// Ping a peer that sent nothing for N ms (0: never)
    #[arg(
        long,
        value_name = "N",
        env = "RESOCKET_PING_INTERVAL_MS",
        default_value_t = 25_000
    )]
    ping_interval_ms: u64,

    /// Close (4003) a peer that sent nothing, not even a pong, for N ms (0: never); its session
    /// then waits for a resume and its presence leaves
    #[arg(
        long,
        value_name = "N",
        env = "RESOCKET_IDLE_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    idle_timeout_ms: u64,

    /// Give up on a connection whose write (a frame, a burst, a close) takes longer than N ms
    #[arg(long, value_name = "N", env = "RESOCKET_WRITE_TIMEOUT_MS", default_value_t = 10_000, value_parser = at_least_one)]
    write_timeout_ms: u64,

    /// A session can be resumed for N ms after its connection ended (0: never)
    #[arg(
        long,
        value_name = "N",
        env = "RESOCKET_SESSION_TTL_MS",
        default_value_t = 30_000
    )]
    session_ttl_ms: u64,

    /// Bytes of finished request replies each session keeps for re-sent requests, oldest
    /// evicted first (the newest is kept whatever its size); an evicted id re-sent is answered
    /// `expired`, never run again
    #[arg(long, value_name = "N", env = "RESOCKET_REPLY_CACHE_BYTES", default_value_t = DedupLimits::default().reply_bytes, value_parser = at_least_one_usize)]
    reply_cache_bytes: usize,

    /// Messages kept per room for replay after a rejoin (at most 100000), where the --config
    /// namespace sets no history_size
    #[arg(long, value_name = "N", env = "RESOCKET_HISTORY", default_value_t = DEFAULT_HISTORY, value_parser = history)]
    history: usize,

    /// The `prices` room gets one tick per symbol every N ms (0 disables the feed)
    #[arg(
        long,
        value_name = "N",
        env = "RESOCKET_FEED_INTERVAL_MS",
        default_value_t = 500
    )]
    feed_interval_ms: u64,

    /// Applied ops kept per document for replay after a sync with `since` (at most 100000;
    /// older: snapshot)
    #[arg(long, value_name = "N", env = "RESOCKET_DOC_HISTORY", default_value_t = DEFAULT_DOC_HISTORY, value_parser = history)]
    doc_history: usize,

    /// Most rooms held; at the bound a new room replaces the longest-idle empty one (refused
    /// rate_limited only while every room has members)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_ROOMS", default_value_t = StateLimits::default().max_rooms, value_parser = at_least_one_usize)]
    max_rooms: usize,

    /// Most bytes of messages a room's history holds, where the --config namespace sets no
    /// history_bytes (oldest evicted; a larger message is refused too_large)
    #[arg(long, value_name = "N", env = "RESOCKET_HISTORY_BYTES", default_value_t = StateLimits::default().history_bytes, value_parser = at_least_one_usize)]
    history_bytes: usize,

    /// Messages older than N ms leave a room's history, where the --config namespace sets no
    /// history_ttl_secs (0: no time limit)
    #[arg(
        long,
        value_name = "N",
        env = "RESOCKET_HISTORY_TTL_MS",
        default_value_t = 0
    )]
    history_ttl_ms: u64,

    /// An empty room (and its history) is removed after N ms without activity (0: only when
    /// its place is needed)
    #[arg(long, value_name = "N", env = "RESOCKET_ROOM_IDLE_TTL_MS", default_value_t = millis_of(StateLimits::default().room_idle_ttl))]
    room_idle_ttl_ms: u64,

    /// Most documents held; at the bound a new document replaces the longest-unused one
    /// (refused rate_limited only while every document has subscribers)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_DOCS", default_value_t = StateLimits::default().max_docs, value_parser = at_least_one_usize)]
    max_docs: usize,

    /// Largest document, in bytes of keys plus values' JSON (a larger op: too_large)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_DOC_BYTES", default_value_t = StateLimits::default().doc_bytes, value_parser = at_least_one_usize)]
    max_doc_bytes: usize,

    /// Most keys in a document (an op adding one more: too_large)
    #[arg(long, value_name = "N", env = "RESOCKET_MAX_DOC_KEYS", default_value_t = StateLimits::default().doc_keys, value_parser = at_least_one_usize)]
    max_doc_keys: usize,

    /// Most bytes of ops a document's log holds for replay (oldest evicted; older: snapshot)
    #[arg(long, value_name = "N", env = "RESOCKET_DOC_HISTORY_BYTES", default_value_t = StateLimits::default().doc_log_bytes, value_parser = at_least_one_usize)]
    doc_history_bytes: usize,

    /// A document without subscribers is removed after N ms without an op (0: only when its
    /// place is needed)
    #[arg(long, value_name = "N", env = "RESOCKET_DOC_IDLE_TTL_MS", default_value_t = millis_of(StateLimits::default().doc_idle_ttl))]
    doc_idle_ttl_ms: u64,

    /// Most bytes sessions waiting for a resume hold (reply caches plus 512 each; memory
    /// engine): beyond it the longest-detached are forgotten (their resume is a new session)
    #[arg(long, value_name = "N", env = "RESOCKET_DETACHED_SESSION_BYTES", default_value_t = StateLimits::default().detached_session_bytes, value_parser = at_least_one_usize)]
    detached_session_bytes: usize,

    /// Most bytes the request reply caches of all sessions hold together (memory engine),
    /// besides each one's newest reply: beyond it the largest caches give up their oldest
    /// replies first (a re-sent request whose reply went is answered `expired`)
    #[arg(long, value_name = "N", env = "RESOCKET_REPLY_CACHE_TOTAL_BYTES", default_value_t = StateLimits::default().reply_cache_total_bytes, value_parser = at_least_one_usize)]
    reply_cache_total_bytes: usize,

    /// Largest server API request body [default: 1048576]
    #[arg(long, value_name = "N", env = "RESOCKET_API_MAX_BODY_BYTES", value_parser = at_least_one_usize)]
    api_max_body_bytes: Option<usize>,

    /// Share sessions, rooms, presence and documents with the other nodes through the Redis at
    /// URL (redis://host:port/db); without it, everything lives in this process (one node)
    #[arg(long, value_name = "URL", env = "RESOCKET_REDIS")]
    redis: Option<String>,

    /// Prefix of every Redis key and of the bus channel (deployments sharing one Redis)
    #[arg(long, value_name = "TEXT", env = "RESOCKET_REDIS_PREFIX", default_value = RedisSettings::DEFAULT_PREFIX)]
    redis_prefix: String,

    /// With --redis: a node that dies without a word keeps its presence members and the
    /// leases of its sessions for N ms (renewed every N/3 ms while it lives)
    #[arg(long, value_name = "N", env = "RESOCKET_REDIS_LEASE_MS", default_value_t = 15_000, value_parser = lease)]
    redis_lease_ms: u64,

    #[command(flatten)]
    auth: AuthArgs,
}

/// A duration flag's value in ms (0 for none).
fn millis_of(duration: Option<Duration>) -> u64 {
    duration.map_or(0, |d| d.as_millis() as u64)
}

/// A duration flag's meaning: 0 for none.
fn unless_zero(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

fn lease(value: &str) -> Result<u64, String> {
    match value.parse::<u64>().map_err(|e| format!("{e}"))? {
        n if n < 300 => Err("must be at least 300".into()),
        n => Ok(n),
    }
}

fn non_empty_path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(PathBuf::from(value))
}

fn frame_bytes(value: &str) -> Result<usize, String> {
    let n: usize = value.parse().map_err(|e| format!("{e}"))?;
    if n == 0 {
        return Err("must be at least 1".into());
    }
    if n.checked_mul(HARD_LIMIT_FACTOR).is_none() {
        return Err("too large".into());
    }
    Ok(n)
}

fn at_least_one(value: &str) -> Result<u64, String> {
    match value.parse::<u64>().map_err(|e| format!("{e}"))? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn at_least_one_usize(value: &str) -> Result<usize, String> {
    match value.parse::<usize>().map_err(|e| format!("{e}"))? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn history(value: &str) -> Result<usize, String> {
    let n: usize = value.parse().map_err(|e| format!("{e}"))?;
    if n > MAX_HISTORY {
        return Err(format!("must be at most {MAX_HISTORY}"));
    }
    Ok(n)
}

/// Parses the arguments after the program name (and the `RESOCKET_*` environment variables).
pub fn parse_args<I, S>(args: I) -> Result<Command, ServerError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    parse_args_with_env(args, |name| std::env::var(name).ok())
}

/// [`parse_args`] with the secrets' environment variables (`RESOCKET_JWT_SECRET`,
/// `RESOCKET_API_KEY`, `RESOCKET_RPC_SECRET`, a `--jwt-secret-env` name) looked up with `env`
/// (tests). The flags' own environment variables always come from the process.
pub fn parse_args_with_env<I, S>(
    args: I,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, ServerError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args =
        std::iter::once("resocket-server".to_owned()).chain(args.into_iter().map(Into::into));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            return match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    Ok(Command::Help(err.render().to_string()))
                }
                _ => Err(ServerError::Cli(err.render().to_string())),
            };
        }
    };
    let setup = cli.auth.build_with_env(env)?;
    let api = match setup.api_key {
        Some(key) => Some(ApiSettings {
            key,
            addr: setup.api_addr,
            max_body_bytes: cli.api_max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        }),
        None if cli.api_max_body_bytes.is_some() => {
            return Err(ServerError::Needs {
                flag: "--api-max-body-bytes",
                needs: "an API key (--api-key-file or $RESOCKET_API_KEY)",
            })
        }
        None => None,
    };
    if let Some(rpc) = &setup.rpc {
        // Checks the URL now rather than at the first request.
        super::rpc::RpcForwarder::new(rpc)?;
    }
    Ok(Command::Run(ServerConfig {
        addr: cli.addr,
        static_dir: cli.static_dir,
        max_frame_bytes: cli.max_frame_bytes,
        handshake_timeout: Duration::from_millis(cli.handshake_timeout_ms),
        ping_interval: Duration::from_millis(cli.ping_interval_ms),
        idle_timeout: Duration::from_millis(cli.idle_timeout_ms),
        write_timeout: Duration::from_millis(cli.write_timeout_ms),
        max_outbound_bytes: cli.max_outbound_bytes,
        rate_limits: cli.rate_limits,
        budgets: Budgets {
            rooms_per_connection: cli.max_rooms_per_connection,
            docs_per_connection: cli.max_docs_per_connection,
            meta_bytes: cli.max_presence_bytes,
        },
        state_limits: StateLimits {
            max_rooms: cli.max_rooms,
            max_docs: cli.max_docs,
            history_bytes: cli.history_bytes,
            history_ttl: unless_zero(cli.history_ttl_ms),
            room_idle_ttl: unless_zero(cli.room_idle_ttl_ms),
            doc_bytes: cli.max_doc_bytes,
            doc_keys: cli.max_doc_keys,
            doc_log_bytes: cli.doc_history_bytes,
            doc_idle_ttl: unless_zero(cli.doc_idle_ttl_ms),
            detached_session_bytes: cli.detached_session_bytes,
            reply_cache_total_bytes: cli.reply_cache_total_bytes,
        },
        connection_limits: ConnectionLimits {
            total: cli.max_connections,
            per_ip: cli.max_connections_per_ip,
            per_user: cli.max_connections_per_user,
        },
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        session_ttl: Duration::from_millis(cli.session_ttl_ms),
        dedup: DedupLimits {
            reply_bytes: cli.reply_cache_bytes,
            ..DedupLimits::default()
        },
        history: cli.history,
        feed_interval: Duration::from_millis(cli.feed_interval_ms),
        doc_history: cli.doc_history,
        demo: setup.demo,
        api,
        rpc: setup.rpc,
        auth: AuthConfig {
            policy: setup.policy,
            origins: setup.origins,
            namespaces: setup.namespaces,
        },
        control_secret: setup.control_secret,
        dev_tokens: setup.demo_signer,
        redis: cli.redis.map(|url| RedisSettings {
            url,
            prefix: cli.redis_prefix,
            lease: Duration::from_millis(cli.redis_lease_ms),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::rpc::RpcConfigError;
    use super::*;
    use crate::auth::options::{API_KEY_ENV, RPC_SECRET_ENV};
    use crate::auth::{AuthConfigError, AuthMode};

    /// The tests' auth mode, so that the other flags parse.
    const INSECURE: &str = "--insecure-trust-client-user";

    fn run(args: &[&str]) -> ServerConfig {
        let args = std::iter::once(INSECURE).chain(args.iter().copied());
        match parse_args_with_env(args, |_| None) {
            Ok(Command::Run(config)) => config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let config = run(&[]);
        let default = ServerConfig::default();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.static_dir, None);
        assert_eq!(config.max_frame_bytes, default.max_frame_bytes);
        assert_eq!(config.handshake_timeout, default.handshake_timeout);
        assert_eq!(
            (
                config.ping_interval,
                config.idle_timeout,
                config.write_timeout
            ),
            (
                Duration::from_secs(25),
                Duration::from_secs(60),
                Duration::from_secs(10)
            )
        );
        assert_eq!(config.hard_frame_limit(), 4 * DEFAULT_MAX_FRAME_BYTES);
        assert_eq!(config.max_outbound_bytes, 4 * 1024 * 1024);
        assert_eq!(config.session_ttl, Duration::from_secs(30));
        assert_eq!(config.history, 100);
        assert_eq!(config.feed_interval, Duration::from_millis(500));
        assert_eq!(config.doc_history, 1000);
        assert!(!config.demo && config.api.is_none() && config.rpc.is_none());
        assert_eq!(config.redis, None, "the memory engine");
        assert!(matches!(
            config.auth.policy.mode(),
            AuthMode::InsecureTrustClaimedUser
        ));
    }

    #[test]
    fn the_reply_cache_is_bounded_in_bytes_and_the_window_fits_the_request_bucket() {
        let config = run(&[]);
        assert_eq!(config.dedup.reply_bytes, 4 * 1024 * 1024);
        assert_eq!(config.dedup.replies, 1024);
        // 256 may run at once, but a connection's request bucket holds 200.
        assert_eq!(config.request_window(), 200);
        let config = run(&["--reply-cache-bytes", "1000", "--rate-limits", "off"]);
        assert_eq!(config.dedup.reply_bytes, 1000);
        assert_eq!(config.request_window(), 256);
        let config = run(&["--rate-limits", "request=10/20"]);
        assert_eq!(config.request_window(), 20);
        assert!(parse_args_with_env([INSECURE, "--reply-cache-bytes", "0"], |_| None).is_err());
    }

    #[test]
    fn an_auth_mode_is_required() {
        assert!(matches!(
            parse_args_with_env(Vec::<String>::new(), |_| None),
            Err(ServerError::Auth(AuthConfigError::NoAuth))
        ));
        let anonymous = parse_args_with_env(["--allow-anonymous"], |_| None);
        match anonymous {
            Ok(Command::Run(config)) => {
                assert!(matches!(config.auth.policy.mode(), AuthMode::Anonymous))
            }
            other => panic!("{other:?}"),
        }
        let secret = "0123456789abcdef0123456789abcdef";
        let jwt = parse_args_with_env(["--jwt-secret-env", "MY_SECRET"], |name| {
            (name == "MY_SECRET").then(|| secret.to_owned())
        });
        match jwt {
            Ok(Command::Run(config)) => {
                assert!(matches!(config.auth.policy.mode(), AuthMode::Jwt(_)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_flag_is_parsed_in_both_spellings() {
        let config = run(&[
            "--addr",
            "127.0.0.1:0",
            "--static=web",
            "--max-frame-bytes",
            "64",
            "--handshake-timeout-ms=250",
            "--session-ttl-ms",
            "0",
            "--history=7",
            "--feed-interval-ms",
            "20",
            "--doc-history=0",
        ]);
        assert_eq!(config.addr, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(config.static_dir, Some(PathBuf::from("web")));
        assert_eq!(config.max_frame_bytes, 64);
        assert_eq!(config.handshake_timeout, Duration::from_millis(250));
        assert_eq!(config.session_ttl, Duration::ZERO);
        assert_eq!(config.history, 7);
        assert_eq!(config.feed_interval, Duration::from_millis(20));
        assert_eq!(config.doc_history, 0);
        assert_eq!(run(&["--doc-history", "5"]).doc_history, 5);
        assert_eq!(run(&["--feed-interval-ms=0"]).feed_interval, Duration::ZERO);
    }

    #[test]
    fn state_budget_flags() {
        assert_eq!(run(&[]).state_limits, StateLimits::default());
        let config = run(&[
            "--max-rooms=5",
            "--history-bytes=100",
            "--history-ttl-ms=2000",
            "--room-idle-ttl-ms=0",
            "--max-docs=6",
            "--max-doc-bytes=200",
            "--max-doc-keys=7",
            "--doc-history-bytes=300",
            "--doc-idle-ttl-ms=4000",
            "--detached-session-bytes=4096",
            "--reply-cache-total-bytes=8192",
        ]);
        assert_eq!(
            config.state_limits,
            StateLimits {
                max_rooms: 5,
                max_docs: 6,
                history_bytes: 100,
                history_ttl: Some(Duration::from_secs(2)),
                room_idle_ttl: None,
                doc_bytes: 200,
                doc_keys: 7,
                doc_log_bytes: 300,
                doc_idle_ttl: Some(Duration::from_secs(4)),
                detached_session_bytes: 4096,
                reply_cache_total_bytes: 8192,
            }
        );
        for flag in ["--max-rooms=0", "--max-doc-bytes=0", "--history-bytes=x"] {
            let args = [INSECURE, flag];
            assert!(
                matches!(
                    parse_args_with_env(args, |_| None),
                    Err(ServerError::Cli(_))
                ),
                "{flag}"
            );
        }
    }

    #[test]
    fn help_wins_and_lists_every_option_with_its_env_var() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["--max-frame-bytes", "1", "--help"],
        ] {
            assert!(matches!(
                parse_args(args.iter().copied()),
                Ok(Command::Help(_))
            ));
        }
        let help = usage();
        for flag in [
            "--addr",
            "--static",
            "--max-frame-bytes",
            "--handshake-timeout-ms",
            "--session-ttl-ms",
            "--history",
            "--feed-interval-ms",
            "--doc-history",
            "--demo",
            "--api-key-file",
            "--api-addr",
            "--api-max-body-bytes",
            "--rpc-url",
            "--rpc-secret-file",
            "--rpc-timeout-ms",
            "--jwt-secret-file",
            "--jwt-public-key",
            "--allow-anonymous",
            "--insecure-trust-client-user",
            "--allowed-origin",
            "--config",
            "RESOCKET_ADDR",
            "RESOCKET_DEMO",
            "RESOCKET_API_KEY_FILE",
            "RESOCKET_API_ADDR",
            "RESOCKET_API_MAX_BODY_BYTES",
            "RESOCKET_RPC_URL",
            "RESOCKET_RPC_SECRET_FILE",
            "RESOCKET_RPC_TIMEOUT_MS",
            "RESOCKET_INSECURE_TRUST_CLIENT_USER",
            "/control/stats",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
    }

    #[test]
    fn errors_are_typed_and_name_the_flag() {
        for args in [&["--port", "1"][..], &["serve"], &["--addr"]] {
            assert!(
                matches!(
                    parse_args_with_env(args.iter().copied(), |_| None),
                    Err(ServerError::Cli(_))
                ),
                "{args:?}"
            );
        }
        for (flag, value) in [
            ("--addr", "localhost"),
            ("--max-frame-bytes", "0"),
            ("--max-frame-bytes", "-1"),
            ("--max-frame-bytes", "lots"),
            ("--max-frame-bytes", &usize::MAX.to_string()),
            ("--handshake-timeout-ms", "0"),
            ("--handshake-timeout-ms", "1.5"),
            ("--static", ""),
            ("--session-ttl-ms", "-5"),
            ("--history", "100001"),
            ("--history", "many"),
            ("--feed-interval-ms", "fast"),
            ("--doc-history", "100001"),
            ("--doc-history", "-1"),
        ] {
            let arg = format!("{flag}={value}");
            match parse_args_with_env([INSECURE, arg.as_str()], |_| None) {
                Err(err @ ServerError::Cli(_)) => {
                    assert!(err.to_string().contains(flag), "{err}")
                }
                other => panic!("{flag} {value:?}: expected Cli, got {other:?}"),
            }
        }
    }

    fn with_env(args: &[&str], env: &[(&str, &str)]) -> Result<ServerConfig, ServerError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let args = std::iter::once(INSECURE).chain(args.iter().copied());
        match parse_args_with_env(args, |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })? {
            Command::Run(config) => Ok(config),
            Command::Help(_) => panic!("unexpected help"),
        }
    }

    #[test]
    fn demo_api_and_rpc_flags() {
        let none: &[(&str, &str)] = &[];
        assert!(with_env(&["--demo"], none).expect("demo").demo);

        let dir = std::env::temp_dir().join(format!("resocket-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let key_file = dir.join("api.key");
        std::fs::write(&key_file, "file-api-key-0123456789abcdef0123\n").expect("write");
        let key_path = key_file.to_str().expect("utf-8 path");
        let config = with_env(
            &[
                "--api-key-file",
                key_path,
                "--api-addr=127.0.0.1:8081",
                "--api-max-body-bytes",
                "2048",
            ],
            none,
        )
        .expect("api");
        let api = config.api.expect("api on");
        assert!(api.key.matches("file-api-key-0123456789abcdef0123"));
        assert_eq!(api.addr, Some(SocketAddr::from(([127, 0, 0, 1], 8081))));
        assert_eq!(api.max_body_bytes, 2048);
        // The key from the environment; default body limit, main listener.
        let env = [(API_KEY_ENV, "env-api-key-0123456789abcdef0123")];
        let api = with_env(&[], &env).expect("env").api.expect("api on");
        assert!(api.key.matches("env-api-key-0123456789abcdef0123"));
        assert_eq!(
            (api.addr, api.max_body_bytes),
            (None, DEFAULT_MAX_BODY_BYTES)
        );

        let env = [(RPC_SECRET_ENV, "rpc-secret-0123456789abcdef0123")];
        let rpc = with_env(
            &[
                "--rpc-url",
                "http://127.0.0.1:7000/rpc",
                "--rpc-timeout-ms=250",
            ],
            &env,
        )
        .expect("rpc")
        .rpc
        .expect("rpc on");
        assert_eq!(rpc.url, "http://127.0.0.1:7000/rpc");
        assert_eq!(rpc.timeout, Duration::from_millis(250));
        assert!(rpc.secret.matches("rpc-secret-0123456789abcdef0123"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn backend_flag_errors_are_typed() {
        let none: &[(&str, &str)] = &[];
        let secret = [(RPC_SECRET_ENV, "rpc-secret-0123456789abcdef0123")];
        assert!(matches!(
            with_env(&["--api-addr", "127.0.0.1:1"], none),
            Err(ServerError::Auth(AuthConfigError::ApiAddrWithoutKey))
        ));
        assert!(matches!(
            with_env(&["--api-max-body-bytes", "10"], none),
            Err(ServerError::Needs { .. })
        ));
        assert!(matches!(
            with_env(&["--api-key-file", "/nonexistent/resocket.key"], none),
            Err(ServerError::Auth(AuthConfigError::Secret { .. }))
        ));
        assert!(matches!(
            with_env(&[], &[(API_KEY_ENV, "short")]),
            Err(ServerError::Auth(AuthConfigError::Secret { .. }))
        ));
        assert!(matches!(
            with_env(&["--rpc-url", "http://b/rpc"], none),
            Err(ServerError::Auth(AuthConfigError::RpcWithoutSecret))
        ));
        assert!(matches!(
            with_env(&["--rpc-timeout-ms", "10"], none),
            Err(ServerError::Auth(AuthConfigError::RpcOptionsWithoutUrl))
        ));
        assert!(matches!(
            with_env(&["--rpc-url", "https://b/rpc"], &secret),
            Err(ServerError::Rpc(RpcConfigError::Https(_)))
        ));
        assert!(matches!(
            with_env(&["--rpc-url", "b/rpc"], &secret),
            Err(ServerError::Auth(AuthConfigError::RpcUrl(_)))
        ));
        for (flag, value) in [
            ("--rpc-timeout-ms", "0"),
            ("--rpc-timeout-ms", "60001"),
            ("--api-max-body-bytes", "0"),
            ("--api-addr", "somewhere"),
        ] {
            let args = [flag, value, "--rpc-url", "http://b/rpc"];
            assert!(with_env(&args, &secret).is_err(), "{flag} {value}");
        }
    }
}
