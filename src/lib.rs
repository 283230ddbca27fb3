//! resocket: a WebSocket connection browser apps can trust.
//!
//! * [`protocol`] defines the wire envelope shared by the client and the test server.
//! * [`doc`] is the pure document model (`apply`, JSON merge patch) shared by client and server.
//! * [`core`] is the sans-IO client state machine: no sockets, timers, clocks or randomness of its
//!   own; it is driven by `handle_*` calls with an injected time and drained with `poll_*` calls.
//! * `browser` (wasm32 only) is the thin driver that moves bytes and time between the browser's
//!   `WebSocket` and the core, and exports the `Client` class to JavaScript.

#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

pub mod core;
pub mod doc;
pub mod protocol;

#[cfg(all(target_arch = "wasm32", not(feature = "ffi")))]
mod browser;
#[cfg(all(target_arch = "wasm32", not(feature = "ffi"), feature = "docs"))]
pub use browser::SyncedDoc;
#[cfg(all(target_arch = "wasm32", not(feature = "ffi")))]
pub use browser::{Client, Room};
#[cfg(all(target_arch = "wasm32", feature = "ffi"))]
mod ffi;

/// Without std (the package build), a panic aborts: nothing formats its message, so `core::fmt`
/// stays out of the WASM.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}
