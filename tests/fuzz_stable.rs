//! The fuzz targets' bodies (`healthcode::fuzzing`) under the stable toolchain: each runs over its
//! seed corpus and then over seeded mutations of it and seeded random inputs, and the test fails
//! on any panic, naming the input (saved beside the test's temporary files) that caused it.
//! `cargo fuzz` runs the same bodies coverage-guided (fuzz/README.md).

use std::panic::{AssertUnwindSafe, catch_unwind};

use healthcode::fuzzing::Target;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Values that tend to sit on boundaries of lengths, counts and offsets.
const INTERESTING: [u64; 10] = [
    0,
    1,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0xffff,
    u32::MAX as u64,
    u64::MAX,
];

/// One random edit of `b` (`others` supplies bytes to splice in).
fn mutate(rng: &mut ChaCha8Rng, b: &mut Vec<u8>, others: &[Vec<u8>]) {
    let pos = |rng: &mut ChaCha8Rng, len: usize| rng.random_range(0..len.max(1));
    match rng.random_range(0..9) {
        0 if !b.is_empty() => {
            let i = pos(rng, b.len());
            b[i] ^= 1 << rng.random_range(0..8);
        }
        1 if !b.is_empty() => {
            let i = pos(rng, b.len());
            b[i] = rng.random();
        }
        2 => {
            let i = pos(rng, b.len() + 1).min(b.len());
            let n = rng.random_range(1..16);
            let ins: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            b.splice(i..i, ins);
        }
        3 if !b.is_empty() => {
            let i = pos(rng, b.len());
            let n = rng.random_range(1..=(b.len() - i).min(64));
            b.drain(i..i + n);
        }
        4 => {
            let n = pos(rng, b.len() + 1);
            b.truncate(n);
        }
        5 if b.len() >= 8 => {
            let i = pos(rng, b.len() - 7);
            let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
            let width = [1usize, 2, 4, 8][rng.random_range(0..4)];
            b[i..i + width].copy_from_slice(&v.to_le_bytes()[..width]);
        }
        6 if b.len() >= 2 => {
            let a = pos(rng, b.len());
            let n = rng.random_range(1..=(b.len() - a).min(32));
            let chunk = b[a..a + n].to_vec();
            let at = pos(rng, b.len());
            b.splice(at..at, chunk);
        }
        7 if !others.is_empty() => {
            let o = &others[rng.random_range(0..others.len())];
            if !o.is_empty() {
                let a = pos(rng, o.len());
                let n = rng.random_range(1..=(o.len() - a).min(256));
                let at = pos(rng, b.len() + 1).min(b.len());
                b.splice(at..at, o[a..a + n].iter().copied());
            }
        }
        _ => {
            if let Some(first) = b.first_mut() {
                *first = rng.random(); // the mode byte of every target
            }
        }
    }
}

/// Runs `target` over its seeds, `mutations` mutated seeds and `random` random inputs; fails
/// on the first panic.
fn run(target: Target, seed: u64, mutations: usize, random: usize) {
    let seeds = target.seeds();
    assert!(!seeds.is_empty(), "{} has seeds", target.name());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inputs: Vec<Vec<u8>> = seeds.to_vec();
    for _ in 0..mutations {
        let mut b = seeds[rng.random_range(0..seeds.len())].clone();
        for _ in 0..rng.random_range(1..=4) {
            mutate(&mut rng, &mut b, seeds);
        }
        inputs.push(b);
    }
    for _ in 0..random {
        let n = rng.random_range(0..512);
        inputs.push((0..n).map(|_| rng.random()).collect());
    }
    for (case, input) in inputs.iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| target.run(input))).is_err() {
            let saved = std::env::temp_dir().join(format!(
                "healthcode-fuzz-{}-seed{seed}-case{case}",
                target.name()
            ));
            std::fs::write(&saved, input).expect("saving the failing input");
            panic!(
                "{} panicked on case {case} of seed {seed} ({} bytes, saved to {}; replay it with \
                 `cargo fuzz run {} {}`)",
                target.name(),
                input.len(),
                saved.display(),
                target.name(),
                saved.display()
            );
        }
    }
}

#[test]
fn index_open_verify_and_answers_never_panic() {
    run(Target::Index, 1, 4000, 500);
}

#[test]
fn feed_rows_never_panic() {
    run(Target::FeedRows, 2, 3000, 500);
}

#[test]
fn overlay_log_replay_never_panics() {
    run(Target::OverlayLog, 3, 15000, 2000);
}

#[test]
fn domain_parsers_never_panic() {
    run(Target::Domain, 4, 50000, 10000);
}

/// Writes every target's seeds into `fuzz/corpus/TARGET/` for `cargo fuzz` to start from:
/// `cargo test --test fuzz_stable -- --ignored write_fuzz_corpus`.
#[test]
#[ignore = "writes files into fuzz/corpus; run on demand"]
fn write_fuzz_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for t in Target::ALL {
        let dir = root.join(t.name());
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in t.seeds().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
    }
}
