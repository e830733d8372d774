//! A generated world for the tests that compare what the server answers with the reference
//! model or with another path: its feeds and index, its people, and its index served.

use std::path::{Path, PathBuf};

use healthcode::domain::{Day, IdNumber, PersonRecords, Policy, RegionCode, RiskArea};
use healthcode::feeds::{self, FeedOptions};
use healthcode::pipeline::{BuildOptions, build_index};
use healthcode::serve::{self, State};
use healthcode::synth::{self, GenConfig};

use super::key;

/// The generated data's date, the day the tests query.
pub fn today() -> Day {
    Day::parse(synth::DEFAULT_TODAY).unwrap()
}

/// A generated world of `persons` in `dir/feeds`, with its index at `dir/a.hci`; its home region
/// is the generated city (Beijing), as `gen` writes it.
pub fn world(dir: &Path, persons: u64, seed: u64) -> (PathBuf, PathBuf) {
    world_with_home(dir, persons, seed, true)
}

/// [`world`], with the generated city as its home region or (`home` false, its `dataset.csv`
/// removed) none: then every resident's city-level telecom stay is a possible match of each
/// risk area in the city, which makes findings against any area of the city plentiful.
#[allow(dead_code)] // not every test binary that uses the worlds needs one without a home
pub fn world_with_home(dir: &Path, persons: u64, seed: u64, home: bool) -> (PathBuf, PathBuf) {
    let feeds = dir.join("feeds");
    let cfg = GenConfig {
        persons,
        seed,
        today: today(),
        city: RegionCode::parse(synth::DEFAULT_CITY).unwrap(),
    };
    synth::generate(&cfg, &feeds, false, &mut |_| {}).expect("the world generates");
    if !home {
        std::fs::remove_file(feeds.join("dataset.csv")).expect("gen writes dataset.csv");
    }
    let index = dir.join("a.hci");
    build_index(
        &feeds,
        &index,
        &key(),
        &opts(),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .expect("the world builds");
    (feeds, index)
}

/// The build options of these worlds: data as of `today()`.
pub fn opts() -> BuildOptions {
    BuildOptions {
        data_as_of: Some(today()),
        ..Default::default()
    }
}

/// The feeds' people and risk areas, for the reference model.
pub fn people(feeds: &Path) -> (Vec<(IdNumber, PersonRecords)>, Vec<RiskArea>) {
    let (f, _) = feeds::load(feeds, &FeedOptions::default(), &mut std::io::sink()).unwrap();
    let mut p: Vec<_> = feeds::people(&f).into_iter().collect();
    p.sort_by_key(|e| e.0);
    (p, f.risk_areas.clone())
}

/// A generated world's index served as of `today()`, and every person's document number followed
/// by an unknown and three invalid ones.
pub fn served_world(dir: &Path, persons: u64, seed: u64) -> (State, Vec<String>) {
    let (feeds, index) = world(dir, persons, seed);
    let (people, _) = people(&feeds);
    let idx = serve::open_index(&index, &key()).unwrap();
    let state = State::new(idx, index, key(), Policy::PrecisionAware, Some(today()));
    let mut ids: Vec<String> = people.iter().map(|(id, _)| id.to_string()).collect();
    ids.extend(["11010519491231002X", "110105194912310021", "abc", ""].map(String::from));
    (state, ids)
}
