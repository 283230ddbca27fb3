//! The server's frame reader on any text a client could send, and every frame the client's
//! encoder writes.
#![no_main]
use resocket_fuzz::ClientFrameInput;

libfuzzer_sys::fuzz_target!(|input: (&[u8], ClientFrameInput)| {
    resocket_fuzz::server_frames(input.0);
    resocket_fuzz::client_frames(input.1);
});
