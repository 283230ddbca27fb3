//! resocket: a WebSocket connection browser apps can trust.
//!
//! * [`protocol`] defines the wire envelope shared by the client and the test server.
//! * [`doc`] is the pure document model (`apply`, JSON merge patch) shared by client and server.
//! * [`core`] is the sans-IO client state machine: no sockets, timers, clocks or randomness of its
//!   own; it is driven by `handle_*` calls with an injected time and drained with `poll_*` calls.
//! * `ffi` (wasm32 only) exports the core to the package's TypeScript (`js/wasm/`) through a
//!   plain `extern "C"` ABI of numbers and JS value handles; the TypeScript moves bytes and time
//!   between the browser's `WebSocket` and the core.

#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

pub mod core;
pub mod doc;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
mod ffi;

/// Without std (the package build), a panic aborts: nothing formats its message, so `core::fmt`
/// stays out of the WASM.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}
