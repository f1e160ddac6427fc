//! `cargo fuzz run -s none classifier`: the classifier never panics, is deterministic and
//! total, keeps retry-after bounded, and reads a well-formed success as `success`.
//! The decoding and the properties live in `keypool::fuzzing`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let case = keypool::fuzzing::case_from_bytes(data);
    if let Err(e) = keypool::fuzzing::check(&case) {
        panic!("classifier property broken: {e}\nreply: {:?}", case.reply);
    }
});
