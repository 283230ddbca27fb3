//! The TypeScript side of the contract, appended to the generated `.d.ts`: the plain objects
//! (options, states, events, errors) and the typed `on`/`join`/`onMessage` signatures, merged
//! into the exported classes (those methods skip wasm-bindgen's untyped declarations).
//! `tests/ts_contract.rs` checks its names against the Rust ones.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = include_str!("contract.d.ts");
