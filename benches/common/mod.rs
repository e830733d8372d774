//! Setup shared by the benchmarks: a synthetic world generated with the library into a temporary
//! directory, its index built with the real pipeline, and seeded samples of known and unknown
//! document numbers. The size is `HEALTHCODE_BENCH_PERSONS` (default 100,000);
//! `HEALTHCODE_BENCH_NO_HOME=1` drops the world's `dataset.csv`, so that its index has no home
//! region and every resident's city-level stay matches the city's risk areas (the workload of
//! builds before home regions, for side-by-side comparisons with them).

// Each benchmark target compiles this module and uses its own part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use healthcode::domain::{Day, IdNumber, RegionCode};
use healthcode::index::Index;
use healthcode::key::Key;
use healthcode::pipeline::{BuildOptions, build_index};
use healthcode::synth::{self, Feed, GenConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Persons generated unless `HEALTHCODE_BENCH_PERSONS` says otherwise.
pub const DEFAULT_PERSONS: u64 = 100_000;
/// The environment variable that sets the number of persons.
pub const PERSONS_VAR: &str = "HEALTHCODE_BENCH_PERSONS";
/// The query day of every evaluation: the generated world's data date.
pub const QUERY_DAY: &str = synth::DEFAULT_TODAY;
/// Seed of the generated world and of every sample drawn from it.
pub const SEED: u64 = 1;

/// The pseudonymisation key of every benchmark index.
pub fn key() -> Key {
    Key::from_words(1, 2)
}

/// The query day as a [`Day`].
pub fn query_day() -> Day {
    Day::parse(QUERY_DAY).expect("a valid day")
}

/// A seeded random stream for samples (`stream` tells samples apart).
pub fn rng(stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    rng.set_stream(stream);
    rng
}

/// The environment variable that, set to 1, builds the world without its home region.
pub const NO_HOME_VAR: &str = "HEALTHCODE_BENCH_NO_HOME";

/// The number of persons to generate: `HEALTHCODE_BENCH_PERSONS`, or the default.
pub fn persons() -> u64 {
    match std::env::var(PERSONS_VAR) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{PERSONS_VAR}={v:?} is not a number of persons")),
        Err(_) => DEFAULT_PERSONS,
    }
}

/// A generated world and its index file, removed on drop.
pub struct World {
    dir: tempfile::TempDir,
    /// Persons generated.
    pub persons: u64,
    /// Feed rows the build reads: every generated file but `truth.csv`, headers excluded.
    pub feed_rows: u64,
    /// The key the index was built with.
    pub key: Key,
}

impl World {
    /// Generates [`persons()`] persons and builds their index, reporting the setup on stderr.
    pub fn new() -> World {
        let persons = persons();
        let dir = tempfile::Builder::new()
            .prefix("healthcode-bench-")
            .tempdir()
            .expect("a temporary directory");
        let key = key();
        let cfg = GenConfig {
            persons,
            seed: SEED,
            today: query_day(),
            city: RegionCode::parse(synth::DEFAULT_CITY).expect("a valid city"),
        };
        let t = Instant::now();
        let feeds = dir.path().join("feeds");
        let summary =
            synth::generate(&cfg, &feeds, false, &mut |_| {}).expect("generating the world");
        let no_home = std::env::var(NO_HOME_VAR).is_ok_and(|v| v == "1");
        if no_home {
            std::fs::remove_file(feeds.join(Feed::Dataset.file_name())).expect("gen wrote it");
        }
        let feed_rows = summary
            .files
            .iter()
            .filter(|(f, _, _)| *f != Feed::Truth && !(no_home && *f == Feed::Dataset))
            .map(|(_, rows, _)| rows)
            .sum();
        eprintln!(
            "setup: generated {persons} persons ({feed_rows} feed rows{}) in {:.1?}",
            if no_home { ", no home region" } else { "" },
            t.elapsed()
        );
        let t = Instant::now();
        let out = dir.path().join("index.hcx");
        let built = build_index(
            &feeds,
            &out,
            &key,
            &BuildOptions::default(),
            &mut std::io::sink(),
            &mut |_| {},
        )
        .expect("building the index");
        let stages: Vec<String> = built
            .timings
            .iter()
            .map(|(stage, d)| format!("{stage:?} {d:.1?}"))
            .collect();
        eprintln!(
            "setup: built the index ({} bytes, {} persons) in {:.1?}: {}",
            built.stats.bytes,
            built.stats.persons,
            t.elapsed(),
            stages.join(", ")
        );
        World {
            dir,
            persons,
            feed_rows,
            key,
        }
    }

    /// The generated feed directory.
    pub fn feeds(&self) -> PathBuf {
        self.dir.path().join("feeds")
    }

    /// The built index file.
    pub fn index_file(&self) -> PathBuf {
        self.dir.path().join("index.hcx")
    }

    /// A path in the world's directory for further output.
    pub fn scratch_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The index file's bytes.
    pub fn index_bytes(&self) -> Vec<u8> {
        std::fs::read(self.index_file()).expect("reading the index")
    }

    /// The index read into memory and opened.
    pub fn open(&self) -> Index<Vec<u8>> {
        Index::open(self.index_bytes(), &self.key).expect("opening the index")
    }
}

/// `n` document numbers drawn with replacement from the distinct first column of
/// `bindings.csv`, checked against `index`.
pub fn known_ids<B: AsRef<[u8]>>(world: &World, index: &Index<B>, n: usize) -> Vec<IdNumber> {
    let file = File::open(world.feeds().join("bindings.csv")).expect("opening bindings.csv");
    let mut bodies = Vec::new();
    for line in BufReader::new(file).lines().skip(1) {
        let line = line.expect("reading bindings.csv");
        let id = line.split(',').next().unwrap_or_default();
        bodies.push(
            IdNumber::parse(id)
                .expect("a valid id in bindings.csv")
                .body(),
        );
    }
    bodies.sort_unstable();
    bodies.dedup();
    let mut rng = rng(1);
    let ids: Vec<IdNumber> = (0..n)
        .map(|_| IdNumber::from_body(bodies[rng.random_range(0..bodies.len())]))
        .collect();
    let missing = ids
        .iter()
        .filter(|&&id| index.lookup(&world.key, id).is_none())
        .count();
    assert_eq!(missing, 0, "every bound id is in the index");
    ids
}

/// `n` valid document numbers the index does not know: known ones with another 3-digit
/// sequence number (same regions and birth dates, so the same shape as real misses).
pub fn unknown_ids<B: AsRef<[u8]>>(
    key: &Key,
    index: &Index<B>,
    known: &[IdNumber],
    n: usize,
) -> Vec<IdNumber> {
    let mut rng = rng(2);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let base = known[rng.random_range(0..known.len())].body();
        let id = IdNumber::from_body(base / 1000 * 1000 + rng.random_range(0..1000));
        if index.lookup(key, id).is_none() {
            out.push(id);
        }
    }
    out
}

/// The 18 characters of `id`, as a client sends them.
pub fn id_text(id: IdNumber) -> String {
    String::from_utf8(id.to_bytes().to_vec()).expect("ASCII")
}
