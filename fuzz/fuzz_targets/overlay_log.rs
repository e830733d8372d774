//! Fuzz target `overlay_log`: the body of `healthcode::fuzzing::Target::OverlayLog` under libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    healthcode::fuzzing::Target::OverlayLog.run(data);
});
