//! Server configuration and the hand-rolled command-line parser (a handful of flags do not
//! justify a CLI framework).

use crate::error::ServerError;
use resocket::protocol::DEFAULT_MAX_FRAME_BYTES;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The WebSocket library's own limit is this many times `max_frame_bytes`: frames between the two
/// limits get a `too_large` error frame, frames beyond it close the connection with 1009.
pub const HARD_LIMIT_FACTOR: usize = 4;

pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(5000);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_millis(30_000);
pub const DEFAULT_HISTORY: usize = 100;
pub const DEFAULT_DOC_HISTORY: usize = 1000;
pub const DEFAULT_FEED_INTERVAL: Duration = Duration::from_millis(500);

/// Largest `--history` and `--doc-history` accepted, so a typo cannot make every room or
/// document hold millions of frames.
pub const MAX_HISTORY: usize = 100_000;

pub const USAGE: &str = "\
resocket-server: test server for the resocket protocol v1

USAGE:
    resocket-server [--addr HOST:PORT] [--static DIR] [--max-frame-bytes N]
                    [--handshake-timeout-ms N] [--session-ttl-ms N] [--history N]
                    [--feed-interval-ms N] [--doc-history N]

OPTIONS:
    --addr HOST:PORT            listen address (default 127.0.0.1:8080; port 0 picks a free port)
    --static DIR                serve files from DIR for every other GET (index.html for /)
    --max-frame-bytes N         frames larger than N get a too_large error frame; frames larger
                                than 4*N close the connection with 1009 (default 1048576)
    --handshake-timeout-ms N    close with 4002 when no hello arrives within N ms (default 5000)
    --session-ttl-ms N          a session can be resumed for N ms after its connection ended
                                (default 30000; 0: never)
    --history N                 messages kept per room for replay after a rejoin (default 100,
                                at most 100000)
    --feed-interval-ms N        the `prices` room gets one tick per symbol every N ms
                                (default 500; 0 disables the feed)
    --doc-history N             applied ops kept per document for replay after a sync with
                                `since` (default 1000, at most 100000; older: snapshot)
    -h, --help                  print this help

ENDPOINTS:
    GET  /ws                          WebSocket, protocol v1 (JSON text frames)
    POST /control/drop?outage_ms=N    drop every socket without a close frame, refuse upgrades
                                      with 503 for N ms
    POST /control/malformed           send `this is not json{` to every open connection
    POST /control/send                send the request body as one text frame to every open connection
    POST /control/notify[?user=U]     send the JSON body as a notify payload to every connection of
                                      user U (or to every open connection)
    POST /control/publish?room=R      publish the JSON body to room R as if by a member
    POST /control/flood?count=N&pad=P send N numbered msg frames to every open connection
    GET  /control/doc?name=N          document N as {rev, entries} (404 if unknown)
    GET  /control/stats               connection, session, room and document counters as JSON
    (control endpoints answer loopback peers only)

Logging level: RUST_LOG=error|warn|info|debug|trace (default info).
";

/// Everything the server needs to run. `Default` gives the documented CLI defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where `Server::start` binds. Ignored by `serve`, which takes a bound listener.
    pub addr: SocketAddr,
    /// Directory served for non-WebSocket, non-control GETs.
    pub static_dir: Option<PathBuf>,
    /// Soft frame limit: larger frames are answered with a `too_large` error frame.
    pub max_frame_bytes: usize,
    /// How long a new connection may take to send its `hello`.
    pub handshake_timeout: Duration,
    /// How long shutdown waits for clients to answer the 1001 close before dropping them.
    pub shutdown_grace: Duration,
    /// How long a session can be resumed after its last connection ended.
    pub session_ttl: Duration,
    /// Messages kept per room for replay to rejoining members.
    pub history: usize,
    /// Period of the `prices` feed; zero disables it.
    pub feed_interval: Duration,
    /// Applied ops kept per document for replay to syncing clients.
    pub doc_history: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            static_dir: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            session_ttl: DEFAULT_SESSION_TTL,
            history: DEFAULT_HISTORY,
            feed_interval: DEFAULT_FEED_INTERVAL,
            doc_history: DEFAULT_DOC_HISTORY,
        }
    }
}

impl ServerConfig {
    /// The WebSocket library's hard limit; `parse_args` guarantees it does not overflow.
    pub fn hard_frame_limit(&self) -> usize {
        self.max_frame_bytes.saturating_mul(HARD_LIMIT_FACTOR)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(ServerConfig),
    Help,
}

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, ServerError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    // `--help` anywhere wins, even over arguments that would not parse.
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    let mut config = ServerConfig::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let flag: &'static str = match name.as_str() {
            "--addr" => "--addr",
            "--static" => "--static",
            "--max-frame-bytes" => "--max-frame-bytes",
            "--handshake-timeout-ms" => "--handshake-timeout-ms",
            "--session-ttl-ms" => "--session-ttl-ms",
            "--history" => "--history",
            "--feed-interval-ms" => "--feed-interval-ms",
            "--doc-history" => "--doc-history",
            _ => return Err(ServerError::UnknownArgument(arg)),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(ServerError::MissingValue { flag }),
        };
        let invalid = |reason: String| ServerError::InvalidValue {
            flag,
            value: value.clone(),
            reason,
        };
        match flag {
            "--addr" => {
                config.addr = value.parse().map_err(|e| invalid(format!("{e}")))?;
            }
            "--static" => {
                if value.is_empty() {
                    return Err(invalid("must not be empty".into()));
                }
                config.static_dir = Some(PathBuf::from(&value));
            }
            "--max-frame-bytes" => {
                let n: usize = value.parse().map_err(|e| invalid(format!("{e}")))?;
                if n == 0 {
                    return Err(invalid("must be at least 1".into()));
                }
                if n.checked_mul(HARD_LIMIT_FACTOR).is_none() {
                    return Err(invalid("too large".into()));
                }
                config.max_frame_bytes = n;
            }
            "--handshake-timeout-ms" => {
                let ms: u64 = value.parse().map_err(|e| invalid(format!("{e}")))?;
                if ms == 0 {
                    return Err(invalid("must be at least 1".into()));
                }
                config.handshake_timeout = Duration::from_millis(ms);
            }
            "--session-ttl-ms" => {
                let ms: u64 = value.parse().map_err(|e| invalid(format!("{e}")))?;
                config.session_ttl = Duration::from_millis(ms);
            }
            "--history" => {
                let n: usize = value.parse().map_err(|e| invalid(format!("{e}")))?;
                if n > MAX_HISTORY {
                    return Err(invalid(format!("must be at most {MAX_HISTORY}")));
                }
                config.history = n;
            }
            "--doc-history" => {
                let n: usize = value.parse().map_err(|e| invalid(format!("{e}")))?;
                if n > MAX_HISTORY {
                    return Err(invalid(format!("must be at most {MAX_HISTORY}")));
                }
                config.doc_history = n;
            }
            _ => {
                let ms: u64 = value.parse().map_err(|e| invalid(format!("{e}")))?;
                config.feed_interval = Duration::from_millis(ms);
            }
        }
    }
    Ok(Command::Run(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> ServerConfig {
        match parse_args(args.iter().copied()) {
            Ok(Command::Run(config)) => config,
            other => panic!("expected a config for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let config = run(&[]);
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.hard_frame_limit(), 4 * DEFAULT_MAX_FRAME_BYTES);
        assert_eq!(config.session_ttl, Duration::from_secs(30));
        assert_eq!(config.history, 100);
        assert_eq!(config.feed_interval, Duration::from_millis(500));
        assert_eq!(config.doc_history, 1000);
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
    fn help_wins() {
        assert!(matches!(
            parse_args(["--addr", "x", "--help"]),
            Ok(Command::Help)
        ));
        assert!(matches!(parse_args(["-h"]), Ok(Command::Help)));
        assert!(matches!(
            parse_args(["--max-frame-bytes", "1", "--help"]),
            Ok(Command::Help)
        ));
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            parse_args(["--port", "1"]),
            Err(ServerError::UnknownArgument(arg)) if arg == "--port"
        ));
        assert!(matches!(
            parse_args(["serve"]),
            Err(ServerError::UnknownArgument(arg)) if arg == "serve"
        ));
        assert!(matches!(
            parse_args(["--addr"]),
            Err(ServerError::MissingValue { flag: "--addr" })
        ));
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
            match parse_args([flag, value]) {
                Err(ServerError::InvalidValue {
                    flag: f, value: v, ..
                }) => {
                    assert_eq!((f, v.as_str()), (flag, value));
                }
                other => panic!("{flag} {value:?}: expected InvalidValue, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_messages_name_the_flag() {
        let err = parse_args(["--handshake-timeout-ms", "soon"]).expect_err("invalid");
        assert!(err.to_string().contains("--handshake-timeout-ms"), "{err}");
    }
}
