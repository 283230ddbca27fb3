//! The server's first-frame reader and its auth policies (anonymous, insecure, JWT).
#![no_main]
use resocket_fuzz::HelloInput;

libfuzzer_sys::fuzz_target!(|input: HelloInput| resocket_fuzz::hello(input));
