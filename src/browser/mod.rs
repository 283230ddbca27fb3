//! The browser driver: moves bytes and time between the browser's `WebSocket` and the sans-IO
//! core, and exports the `Client` class. It holds no protocol logic of its own.

mod client;
mod codec;
#[cfg(feature = "docs")]
mod doc_storage;
mod driver;
mod event_names;
mod glue;
mod handle;
mod js_json;
mod js_values;
mod room;
mod socket;
#[cfg(feature = "docs")]
mod synced_doc;
mod timer;
mod to_js;
mod typescript;

pub use client::Client;
pub use room::Room;
#[cfg(feature = "docs")]
pub use synced_doc::SyncedDoc;

// Talc is a fraction of dlmalloc's code size; the client is single-threaded (no atomics).
#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Milliseconds on the page's monotonic clock (`performance.now()`), the core's time base.
fn now_ms() -> u64 {
    clock::now() as u64
}

mod clock {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        // Bound on the global so it works in windows and workers alike.
        #[wasm_bindgen(js_namespace = performance, js_name = now)]
        pub fn now() -> f64;
    }
}
