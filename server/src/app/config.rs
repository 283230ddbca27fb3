//! Server configuration and the hand-rolled command-line parser (a handful of flags do not
//! justify a CLI framework).

use super::api::DEFAULT_MAX_BODY_BYTES;
use crate::auth::options::{
    API_KEY_ENV, DEFAULT_RPC_TIMEOUT_MS, MAX_RPC_TIMEOUT_MS, RPC_SECRET_ENV,
};
use crate::auth::{ApiKey, RpcSetup, SharedSecret};
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
                    [--feed-interval-ms N] [--doc-history N] [--demo]
                    [--api-key-file FILE] [--api-addr HOST:PORT] [--api-max-body-bytes N]
                    [--rpc-url URL] [--rpc-secret-file FILE] [--rpc-timeout-ms N]

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
    --demo                      demo mode: the demo request methods (echo, sum, sleep, fail,
                                count, order) and the `prices` feed; off by default
                                [env: RESOCKET_DEMO]
    --api-key-file FILE         turn the server API (/api/v1, docs/SERVER_API.md) on with the key
                                in FILE [env: RESOCKET_API_KEY_FILE; or the key itself in
                                RESOCKET_API_KEY]; without a key the API is off
    --api-addr HOST:PORT        serve the API on this address instead of the main listener
                                [env: RESOCKET_API_ADDR]
    --api-max-body-bytes N      largest API request body (default 1048576)
                                [env: RESOCKET_API_MAX_BODY_BYTES]
    --rpc-url URL               forward requests no local method handles to this http:// URL
                                [env: RESOCKET_RPC_URL]
    --rpc-secret-file FILE      secret sent as X-Resocket-Secret to --rpc-url, required with it
                                [env: RESOCKET_RPC_SECRET_FILE; or the secret in RESOCKET_RPC_SECRET]
    --rpc-timeout-ms N          how long a forwarded request may take (default 5000, at most 60000)
                                [env: RESOCKET_RPC_TIMEOUT_MS]
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
    /api/v1/...                       the server API for app backends (with an API key)
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
    /// Demo mode: the demo request methods and the price feed.
    pub demo: bool,
    /// The server API; `None`: off.
    pub api: Option<ApiSettings>,
    /// Forwarding of requests no local method handles; `None`: they answer `not_found`.
    pub rpc: Option<RpcSetup>,
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
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            session_ttl: DEFAULT_SESSION_TTL,
            history: DEFAULT_HISTORY,
            feed_interval: DEFAULT_FEED_INTERVAL,
            doc_history: DEFAULT_DOC_HISTORY,
            demo: false,
            api: None,
            rpc: None,
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
// Parsed once at start; boxing the config would only complicate every caller.
#[allow(clippy::large_enum_variant)]
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
    parse_args_with_env(args, |name| std::env::var(name).ok())
}

/// The environment variables of the backend flags (`--help` lists them).
const BACKEND_ENV: [(&str, &str); 6] = [
    ("RESOCKET_API_KEY_FILE", "--api-key-file"),
    ("RESOCKET_API_ADDR", "--api-addr"),
    ("RESOCKET_API_MAX_BODY_BYTES", "--api-max-body-bytes"),
    ("RESOCKET_RPC_URL", "--rpc-url"),
    ("RESOCKET_RPC_SECRET_FILE", "--rpc-secret-file"),
    ("RESOCKET_RPC_TIMEOUT_MS", "--rpc-timeout-ms"),
];
/// Turns `--demo` on unless empty, `0`, `false`, `no` or `off`.
const DEMO_ENV: &str = "RESOCKET_DEMO";

/// The flags of the server API and RPC forwarding, before their secrets are read.
#[derive(Default)]
struct BackendFlags {
    api_key_file: Option<PathBuf>,
    api_addr: Option<SocketAddr>,
    api_max_body_bytes: Option<usize>,
    rpc_url: Option<String>,
    rpc_secret_file: Option<PathBuf>,
    rpc_timeout_ms: Option<u64>,
}

impl BackendFlags {
    fn resolve(
        self,
        config: &mut ServerConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ServerError> {
        let key = match &self.api_key_file {
            Some(path) => Some(ApiKey::from_file(path)?),
            None => env(API_KEY_ENV)
                .map(|key| ApiKey::new(&key, API_KEY_ENV))
                .transpose()?,
        };
        config.api = match key {
            Some(key) => Some(ApiSettings {
                key,
                addr: self.api_addr,
                max_body_bytes: self.api_max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            }),
            None if self.api_addr.is_some() || self.api_max_body_bytes.is_some() => {
                return Err(ServerError::Needs {
                    flag: "--api-addr/--api-max-body-bytes",
                    needs: "an API key (--api-key-file or $RESOCKET_API_KEY)",
                })
            }
            None => None,
        };
        config.rpc = match self.rpc_url {
            Some(url) => {
                let secret =
                    match &self.rpc_secret_file {
                        Some(path) => SharedSecret::from_file(path)?,
                        None => match env(RPC_SECRET_ENV) {
                            Some(secret) => SharedSecret::new(&secret, RPC_SECRET_ENV)?,
                            None => return Err(ServerError::Needs {
                                flag: "--rpc-url",
                                needs:
                                    "a shared secret (--rpc-secret-file or $RESOCKET_RPC_SECRET)",
                            }),
                        },
                    };
                let setup = RpcSetup {
                    url,
                    secret,
                    timeout: Duration::from_millis(
                        self.rpc_timeout_ms.unwrap_or(DEFAULT_RPC_TIMEOUT_MS),
                    ),
                };
                // Checks the URL now rather than at the first request.
                super::rpc::RpcForwarder::new(&setup)?;
                Some(setup)
            }
            None if self.rpc_secret_file.is_some() || self.rpc_timeout_ms.is_some() => {
                return Err(ServerError::Needs {
                    flag: "--rpc-secret-file/--rpc-timeout-ms",
                    needs: "--rpc-url",
                })
            }
            None => None,
        };
        Ok(())
    }
}

/// [`parse_args`] with the environment given as a lookup function (tests).
pub fn parse_args_with_env<I, S>(
    args: I,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, ServerError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    // `--help` anywhere wins, even over arguments that would not parse.
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    // The backend flags' environment variables come first, so flags given override them.
    let mut from_env = Vec::new();
    for (name, flag) in BACKEND_ENV {
        if let Some(value) = env(name).filter(|v| !v.is_empty()) {
            from_env.push(format!("{flag}={value}"));
        }
    }
    if env(DEMO_ENV).is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no" | "off")) {
        from_env.push("--demo".to_owned());
    }
    let args = from_env.into_iter().chain(args);
    let mut config = ServerConfig::default();
    let mut backend = BackendFlags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--demo" {
            config.demo = true;
            continue;
        }
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
            "--api-key-file" => "--api-key-file",
            "--api-addr" => "--api-addr",
            "--api-max-body-bytes" => "--api-max-body-bytes",
            "--rpc-url" => "--rpc-url",
            "--rpc-secret-file" => "--rpc-secret-file",
            "--rpc-timeout-ms" => "--rpc-timeout-ms",
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
            "--api-key-file" | "--rpc-secret-file" => {
                if value.is_empty() {
                    return Err(invalid("must not be empty".into()));
                }
                let path = Some(PathBuf::from(&value));
                if flag == "--api-key-file" {
                    backend.api_key_file = path;
                } else {
                    backend.rpc_secret_file = path;
                }
            }
            "--api-addr" => {
                backend.api_addr = Some(value.parse().map_err(|e| invalid(format!("{e}")))?);
            }
            "--api-max-body-bytes" => {
                let n: usize = value.parse().map_err(|e| invalid(format!("{e}")))?;
                if n == 0 {
                    return Err(invalid("must be at least 1".into()));
                }
                backend.api_max_body_bytes = Some(n);
            }
            "--rpc-url" => backend.rpc_url = Some(value.clone()),
            "--rpc-timeout-ms" => {
                let ms: u64 = value.parse().map_err(|e| invalid(format!("{e}")))?;
                if ms == 0 || ms > MAX_RPC_TIMEOUT_MS {
                    return Err(invalid(format!("must be 1 to {MAX_RPC_TIMEOUT_MS}")));
                }
                backend.rpc_timeout_ms = Some(ms);
            }
            _ => {
                let ms: u64 = value.parse().map_err(|e| invalid(format!("{e}")))?;
                config.feed_interval = Duration::from_millis(ms);
            }
        }
    }
    backend.resolve(&mut config, env)?;
    Ok(Command::Run(config))
}

#[cfg(test)]
mod tests {
    use super::super::rpc::RpcConfigError;
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

    fn with_env(args: &[&str], env: &[(&str, &str)]) -> Result<ServerConfig, ServerError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match parse_args_with_env(args.iter().copied(), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })? {
            Command::Run(config) => Ok(config),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn demo_api_and_rpc_flags() {
        let none: &[(&str, &str)] = &[];
        let config = with_env(&[], none).expect("defaults");
        assert!(!config.demo && config.api.is_none() && config.rpc.is_none());
        assert!(with_env(&["--demo"], none).expect("demo").demo);

        let dir = std::env::temp_dir().join(format!("resocket-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let key_file = dir.join("api.key");
        std::fs::write(&key_file, "file-api-key-0123456789\n").expect("write");
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
        assert!(api.key.matches("file-api-key-0123456789"));
        assert_eq!(api.addr, Some(SocketAddr::from(([127, 0, 0, 1], 8081))));
        assert_eq!(api.max_body_bytes, 2048);
        // The key from the environment; default body limit, main listener.
        let env = [(API_KEY_ENV, "env-api-key-0123456789")];
        let api = with_env(&[], &env).expect("env").api.expect("api on");
        assert!(api.key.matches("env-api-key-0123456789"));
        assert_eq!(
            (api.addr, api.max_body_bytes),
            (None, DEFAULT_MAX_BODY_BYTES)
        );

        let env = [(RPC_SECRET_ENV, "rpc-secret-0123456789")];
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
        assert!(rpc.secret.matches("rpc-secret-0123456789"));

        // Every backend flag from its environment variable; flags given override them.
        let env = [
            ("RESOCKET_API_KEY_FILE", key_path),
            ("RESOCKET_API_ADDR", "127.0.0.1:9001"),
            ("RESOCKET_API_MAX_BODY_BYTES", "100"),
            ("RESOCKET_RPC_URL", "http://127.0.0.1:7000/rpc"),
            (RPC_SECRET_ENV, "rpc-secret-0123456789"),
            ("RESOCKET_RPC_TIMEOUT_MS", "300"),
            ("RESOCKET_DEMO", "1"),
        ];
        let config = with_env(&["--api-max-body-bytes", "200"], &env).expect("env");
        assert!(config.demo);
        let api = config.api.expect("api on");
        assert_eq!(api.addr, Some(SocketAddr::from(([127, 0, 0, 1], 9001))));
        assert_eq!(api.max_body_bytes, 200, "the flag wins");
        assert_eq!(config.rpc.expect("rpc").timeout, Duration::from_millis(300));
        assert!(
            !with_env(&[], &[("RESOCKET_DEMO", "false")])
                .expect("off")
                .demo
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn backend_flag_errors_are_typed() {
        let none: &[(&str, &str)] = &[];
        let secret = [(RPC_SECRET_ENV, "rpc-secret-0123456789")];
        assert!(matches!(
            with_env(&["--api-addr", "127.0.0.1:1"], none),
            Err(ServerError::Needs { .. })
        ));
        assert!(matches!(
            with_env(&["--api-key-file", "/nonexistent/resocket.key"], none),
            Err(ServerError::Secret(_))
        ));
        assert!(matches!(
            with_env(&[], &[(API_KEY_ENV, "short")]),
            Err(ServerError::Secret(_))
        ));
        assert!(matches!(
            with_env(&["--rpc-url", "http://b/rpc"], none),
            Err(ServerError::Needs {
                flag: "--rpc-url",
                ..
            })
        ));
        assert!(matches!(
            with_env(&["--rpc-timeout-ms", "10"], none),
            Err(ServerError::Needs { .. })
        ));
        assert!(matches!(
            with_env(&["--rpc-url", "https://b/rpc"], &secret),
            Err(ServerError::Rpc(RpcConfigError::Https(_)))
        ));
        assert!(matches!(
            with_env(&["--rpc-url", "b/rpc"], &secret),
            Err(ServerError::Rpc(RpcConfigError::Url(_)))
        ));
        for (flag, value) in [
            ("--rpc-timeout-ms", "0"),
            ("--rpc-timeout-ms", "60001"),
            ("--api-max-body-bytes", "0"),
            ("--api-addr", "somewhere"),
            ("--api-key-file", ""),
        ] {
            assert!(
                matches!(
                    with_env(&[flag, value], &secret),
                    Err(ServerError::InvalidValue { .. })
                ),
                "{flag} {value}"
            );
        }
        let usage_flags = [
            "--demo",
            "--api-key-file",
            "--api-addr",
            "--api-max-body-bytes",
            "--rpc-url",
            "--rpc-secret-file",
            "--rpc-timeout-ms",
        ];
        for flag in usage_flags {
            assert!(USAGE.contains(flag), "{flag} missing from USAGE");
        }
        for (name, _) in BACKEND_ENV {
            assert!(USAGE.contains(name), "{name} missing from USAGE");
        }
    }

    #[test]
    fn error_messages_name_the_flag() {
        let err = parse_args(["--handshake-timeout-ms", "soon"]).expect_err("invalid");
        assert!(err.to_string().contains("--handshake-timeout-ms"), "{err}");
    }
}
