//! Why the server cannot start or stopped abnormally: the one error type of the top layer
//! (command line, binding, serving).

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The command line does not parse (clap's rendered message, naming the flag).
    #[error("{}", .0.trim_end().trim_start_matches("error: "))]
    Cli(String),
    /// The auth, permission or backend flags cannot be used together, or a file cannot be read.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthConfigError),
    /// A secret file or environment variable that cannot be used.
    #[error("{0}")]
    Secret(#[from] crate::auth::SecretError),
    #[error(transparent)]
    Rpc(#[from] crate::app::rpc::RpcConfigError),
    #[error("{flag} needs {needs}")]
    Needs {
        flag: &'static str,
        needs: &'static str,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("--static {}: not a readable directory", path.display())]
    StaticDir { path: PathBuf },
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// `--redis`: Redis cannot be reached, or its bus not subscribed to, at start.
    #[error("Redis engine: {0}")]
    Redis(crate::state::EngineError),
    #[error("server task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}
