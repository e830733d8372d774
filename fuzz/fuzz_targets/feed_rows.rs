//! Fuzz target `feed_rows`: the body of `healthcode::fuzzing::Target::FeedRows` under libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    healthcode::fuzzing::Target::FeedRows.run(data);
});
