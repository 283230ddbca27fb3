//! The fuzz targets' checks on stable, driven by proptest with random bytes in place of
//! libFuzzer's coverage-guided input: the fallback `make fuzz` uses where nightly is missing.
//! `PROPTEST_CASES` sets how long it runs.

use arbitrary::{Arbitrary, Unstructured};
use proptest::prelude::*;
use resocket_fuzz::{ClientFrameInput, HelloInput, OpInput, Step};

/// Builds a structured input from random bytes, as the fuzz targets do (`fuzz_target!` takes
/// the rest: a `Vec` gets as many elements as the bytes make).
fn build<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

proptest! {
    #[test]
    fn client_codec(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        resocket_fuzz::client_codec(&bytes);
    }

    #[test]
    fn client_codec_on_json_shaped_text(value in json_text()) {
        resocket_fuzz::client_codec(value.as_bytes());
        resocket_fuzz::server_frames(value.as_bytes());
    }

    #[test]
    fn server_frames(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        resocket_fuzz::server_frames(&bytes);
    }

    #[test]
    fn client_frames(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Some(input) = build::<ClientFrameInput>(&bytes) {
            resocket_fuzz::client_frames(input);
        }
    }

    #[test]
    fn server_session(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 0..48)) {
        // One step per chunk: from one run of random bytes, a string would eat them all.
        let steps = chunks.iter().filter_map(|chunk| build::<Step>(chunk)).collect();
        resocket_fuzz::server_session(steps);
    }

    #[test]
    fn hello(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Some(input) = build::<HelloInput>(&bytes) {
            resocket_fuzz::hello(input);
        }
    }

    #[test]
    fn hello_on_json_shaped_text(value in json_text()) {
        let mut bytes = value.into_bytes();
        bytes.extend(std::iter::repeat_n(0u8, 64));
        if let Some(input) = build::<HelloInput>(&bytes) {
            resocket_fuzz::hello(input);
        }
    }

    #[test]
    fn doc_ops(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Some(ops) = build::<Vec<OpInput>>(&bytes) {
            resocket_fuzz::doc_ops(ops);
        }
    }
}

/// Envelope-shaped JSON text, so random input reaches past the JSON parser.
fn json_text() -> impl Strategy<Value = String> {
    let kinds = prop::sample::select(vec![
        "msg", "welcome", "res", "joined", "presence", "op", "snapshot", "reject", "synced",
        "error", "ping", "pong", "join", "req", "sync", "publish", "hello",
    ]);
    let field = prop_oneof![
        Just("null".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-z]{0,6}".prop_map(|s| format!("{s:?}")),
        Just("{}".to_owned()),
        Just("[]".to_owned()),
        Just("{\"entries\":{\"k\":{\"rev\":1}}}".to_owned()),
        Just("{\"members\":[{\"id\":\"s\"}],\"recovered\":true}".to_owned()),
        Just("{\"origin\":\"o\",\"key\":\"k\",\"op\":\"set\",\"value\":1}".to_owned()),
    ];
    (kinds, field.clone(), field.clone(), field.clone(), field).prop_map(
        |(kind, id, room, seq, payload)| {
            format!(
                "{{\"kind\":\"{kind}\",\"id\":{id},\"room\":{room},\"seq\":{seq},\"payload\":{payload}}}"
            )
        },
    )
}
