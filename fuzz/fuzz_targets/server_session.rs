//! Several connections' frames carried out on the server's real in-memory engine, checked
//! against a reference model (sequence numbers, deliveries, refusals, documents).
#![no_main]
use resocket_fuzz::Step;

libfuzzer_sys::fuzz_target!(|steps: Vec<Step>| resocket_fuzz::server_session(steps));
