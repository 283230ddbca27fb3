//! The WASM module's plain ABI: the sans-IO core behind `extern "C"` exports that take and
//! return numbers and JS value handles, for the TypeScript client in `js/wasm/`. No
//! wasm-bindgen: the JS side is hand-written, so the module carries no generated shims.
//!
//! * `value`: JS values as owned handles (`Val`), and the codec's JSON traits over them.
//! * `frame`: encoded frames and their sizes; control frames encoded by the shared codec.
//! * `out`: events, states, errors and metrics pushed to JS as flat lists.
//! * `client`, `rooms`, `docs`: the exports, and the driver that executes the core's actions.

mod client;
#[cfg(feature = "docs")]
mod docs;
mod frame;
mod out;
mod rooms;
mod value;

// lol_alloc's free list is a fraction of talc's or dlmalloc's code (450 bytes less gzipped than
// talc). SAFETY: the module is single-threaded (wasm32 without atomics).
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
