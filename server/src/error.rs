//! Errors that stop the server from starting or running.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
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
    #[error("server task ended abnormally: {0}")]
    Task(String),
}
