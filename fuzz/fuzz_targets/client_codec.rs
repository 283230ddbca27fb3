//! The client's decoder on any JSON the server could send.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| resocket_fuzz::client_codec(data));
