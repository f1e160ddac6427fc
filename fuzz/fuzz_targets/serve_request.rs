//! `cargo fuzz run -s none serve_request`: `keypool serve`'s request readers (route, key,
//! marker, stream flag) and the body splitter never panic and say only what the request holds.
//! The properties live in `keypool::fuzzing::check_request`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keypool::fuzzing::check_request(data) {
        panic!("serve request property broken: {e}");
    }
});
