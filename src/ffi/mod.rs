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

// Talc is a fraction of dlmalloc's code size; the client is single-threaded (no atomics).
#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
