//! `cargo fuzz run -s none trace`: the invariant checker on arbitrary traces (keys, providers and
//! requests the chain does not have, events out of order) never panics or runs away. The
//! decoding and the property live in `keypool::fuzzing::check_trace`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keypool::fuzzing::check_trace(data) {
        panic!("trace checker property broken: {e}");
    }
});
