//! The document model (`apply`, `merge_patch`) under any sequence of ops.
#![no_main]
use resocket_fuzz::OpInput;

libfuzzer_sys::fuzz_target!(|ops: Vec<OpInput>| resocket_fuzz::doc_ops(ops));
