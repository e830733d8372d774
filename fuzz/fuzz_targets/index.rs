//! Fuzz target `index`: the body of `healthcode::fuzzing::Target::Index` under libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    healthcode::fuzzing::Target::Index.run(data);
});
