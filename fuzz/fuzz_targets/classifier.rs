//! `cargo fuzz run -s none classifier`: the classifier never panics, is deterministic and
//! total, keeps retry-after bounded, reads a well-formed success as `success`,
//! and reads a `keypool classify` line in one pass exactly as serde_json reads it.
//! The decoding and the properties live in `keypool::fuzzing`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keypool::fuzzing::check_bytes(data) {
        let case = keypool::fuzzing::case_from_bytes(data);
        panic!("classifier property broken: {e}\nreply: {:?}", case.reply);
    }
});
