//! The build pipeline shared by `healthcode build`, `serve --demo` and the rebuild
//! trigger: read and validate the feeds, join them per person, encode the index, verify it, and
//! write it atomically.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use crate::domain::{Day, PersonRecords};
use crate::feeds::{self, FeedError, FeedOptions, Report};
use crate::index::{
    BuildError, BuildInput, BuildStats, Index, IndexError, build_bytes, write_atomic,
};
use crate::key::Key;
use crate::overlay::{Fold, PersonRecord, apply_risk_changes};

/// How to build.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// Reject thresholds of the feed load.
    pub feeds: FeedOptions,
    /// The data date to record; `None` = the latest day observed in the feeds.
    pub data_as_of: Option<Day>,
}

/// A stage of the build, reported as it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Reading and validating the feed files.
    Reading,
    /// Joining records per person.
    Joining,
    /// Encoding the index.
    Encoding,
    /// Checking the encoded index.
    Verifying,
    /// Writing the file.
    Writing,
}

impl Stage {
    /// A short machine-readable name (`reading`, `joining`, …).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Reading => "reading",
            Stage::Joining => "joining",
            Stage::Encoding => "encoding",
            Stage::Verifying => "verifying",
            Stage::Writing => "writing",
        }
    }

    /// What the stage does, for progress lines.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Reading => "reading and validating feeds",
            Stage::Joining => "joining records per person",
            Stage::Encoding => "encoding the index",
            Stage::Verifying => "verifying the encoded index",
            Stage::Writing => "writing the index file",
        }
    }
}

/// What a finished build did.
#[derive(Debug)]
pub struct BuildOutcome {
    /// The feed report (rows, rejects per file).
    pub report: Report,
    /// Sizes and counts of the index.
    pub stats: BuildStats,
    /// Time spent in each stage.
    pub timings: Vec<(Stage, Duration)>,
}

/// Why a build failed; nothing was written at the output path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The feeds could not be read or broke the reject threshold.
    #[error(transparent)]
    Feeds(#[from] FeedError),
    /// Encoding or writing failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The encoded index failed its own check (a bug: please report it with the feeds).
    #[error("the encoded index failed verification: {0}")]
    Verify(#[from] IndexError),
}

/// Builds the index of `feeds_dir` into `out`; rejects stream into `rejects`, each stage is
/// announced to `progress` as it starts.
pub fn build_index(
    feeds_dir: &Path,
    out: &Path,
    key: &Key,
    opts: &BuildOptions,
    rejects: &mut dyn Write,
    progress: &mut dyn FnMut(Stage),
) -> Result<BuildOutcome, PipelineError> {
    build_index_folding(feeds_dir, out, key, opts, None, rejects, progress)
}

/// [`build_index`], folding the live writes of `fold` into the index: its risk-area changes are
/// applied to the feed's designations, its person records joined to the feed's people (people
/// absent from the feeds are added by keyed hash), and the index records the log sequence it
/// folded so that a server never applies those writes a second time.
pub fn build_index_folding(
    feeds_dir: &Path,
    out: &Path,
    key: &Key,
    opts: &BuildOptions,
    fold: Option<&Fold>,
    rejects: &mut dyn Write,
    progress: &mut dyn FnMut(Stage),
) -> Result<BuildOutcome, PipelineError> {
    let mut timings = Vec::new();
    let mut stage = |s: Stage, last: &mut Instant| {
        progress(s);
        *last = Instant::now();
    };
    let mut t = Instant::now();
    stage(Stage::Reading, &mut t);
    let (feeds, report) = feeds::load(feeds_dir, &opts.feeds, rejects)?;
    timings.push((Stage::Reading, t.elapsed()));

    stage(Stage::Joining, &mut t);
    let mut people = feeds::people(&feeds);
    let mut risk_areas = feeds.risk_areas.clone();
    let mut hashed: Vec<(u64, PersonRecords)> = Vec::new();
    if let Some(fold) = fold {
        apply_risk_changes(&mut risk_areas, &fold.risk);
        let mut live: HashMap<u64, &[PersonRecord]> = fold
            .persons
            .iter()
            .map(|(h, r)| (*h, r.as_slice()))
            .collect();
        if !live.is_empty() {
            for (id, p) in people.iter_mut() {
                if let Some(records) = live.remove(&key.hash_id(*id)) {
                    records.iter().for_each(|r| r.add_to(p));
                }
            }
        }
        for (h, records) in live {
            let mut p = PersonRecords::default();
            records.iter().for_each(|r| r.add_to(&mut p));
            hashed.push((h, p));
        }
    }
    timings.push((Stage::Joining, t.elapsed()));

    stage(Stage::Encoding, &mut t);
    let input = BuildInput {
        people: people.iter().map(|(id, p)| (*id, p)).collect(),
        risk_areas: &risk_areas,
        regions: feeds.regions.as_ref(),
        data_as_of: opts.data_as_of,
        hashed: hashed.iter().map(|(h, p)| (*h, p)).collect(),
        folded: fold.map(|f| (f.log_id, f.through)),
    };
    let (bytes, stats) = build_bytes(&input, key)?;
    drop(input);
    drop(people);
    drop(feeds);
    timings.push((Stage::Encoding, t.elapsed()));

    stage(Stage::Verifying, &mut t);
    Index::open(bytes.as_slice(), key)?.verify()?;
    timings.push((Stage::Verifying, t.elapsed()));

    stage(Stage::Writing, &mut t);
    write_atomic(out, &bytes)?;
    timings.push((Stage::Writing, t.elapsed()));
    Ok(BuildOutcome {
        report,
        stats,
        timings,
    })
}
