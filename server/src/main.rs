//! `resocket-server` binary: parses the command line, sets up logging and runs the server until
//! SIGINT or SIGTERM.

use resocket_server::{parse_args, serve, Command, ServerConfig, ServerError};
use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use tracing::level_filters::LevelFilter;
use tracing::{info, warn};

/// Exit status for command-line mistakes, as is customary.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    // Before parsing: building the auth policy logs (the insecure mode's warning).
    init_tracing();
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let parsed = match args {
        Ok(args) => parse_args(args),
        Err(arg) => {
            eprintln!("resocket-server: argument {arg:?} is not valid UTF-8");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let config = match parsed {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("resocket-server: {err}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    info!(auth = %config.auth.policy, "authentication");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("resocket-server: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    // Do not let a stuck blocking task (a static file read) delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("resocket-server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: ServerConfig) -> Result<(), ServerError> {
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    // One machine-readable line on stdout, so scripts started with port 0 can find the port.
    println!("resocket-server listening on {addr}");
    let _ = std::io::stdout().flush();
    serve(listener, config, shutdown).await
}

/// Logs go to stderr; RUST_LOG may name a single level (error, warn, info, debug, trace).
fn init_tracing() {
    let requested = std::env::var("RUST_LOG").ok();
    let level = requested
        .as_deref()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(value) = requested.filter(|v| v.parse::<LevelFilter>().is_err()) {
        warn!(value, "RUST_LOG is not a plain level; using info");
    }
}

/// Registers the handlers at once, not on first poll, so a signal sent right after the listening
/// line is never lost (background jobs of non-interactive shells start with SIGINT ignored).
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received"),
            _ = terminate.recv() => info!("SIGTERM received"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        info!("Ctrl-C received");
    })
}
