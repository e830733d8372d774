//! Fuzz target `domain`: the body of `healthcode::fuzzing::Target::Domain` under libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    healthcode::fuzzing::Target::Domain.run(data);
});
