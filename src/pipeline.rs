//! The build pipeline shared by `healthcode build`, `serve --demo` and the rebuild
//! trigger: read and validate the feeds, join them per person, encode the index, verify it, and
//! write it atomically.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use crate::domain::{Day, PersonRecords, RegionCode, RiskArea};
use crate::feeds::{self, FeedError, FeedOptions, People, Report};
use crate::index::{
    BuildError, BuildSettings, BuildStats, Ident, Index, IndexError, PersonSource, build_from,
    latest_observed, write_atomic,
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
    /// The home region to record whatever `dataset.csv` says (`build --home`).
    pub home: Option<RegionCode>,
    /// The home region to record when neither `home` nor the feeds name one (a rebuild keeps
    /// the serving index's).
    pub home_otherwise: Option<RegionCode>,
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
    Verify(IndexError),
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
    let (mut feeds, report) = feeds::load(feeds_dir, &opts.feeds, rejects)?;
    timings.push((Stage::Reading, t.elapsed()));

    stage(Stage::Joining, &mut t);
    let people = People::join(&mut feeds);
    let mut risk_areas = std::mem::take(&mut feeds.risk_areas);
    let mut source = FoldedPeople {
        people: &people,
        key,
        live: HashMap::new(),
        absent: Vec::new(),
    };
    // The data date is the feeds' own, never a live write's (a mistyped day of one would
    // otherwise date every answer and make the correct next index look older).
    let mut data_as_of = opts.data_as_of;
    if let Some(fold) = fold {
        if data_as_of.is_none() {
            data_as_of = feeds_data_date(&people, &risk_areas);
        }
        apply_risk_changes(&mut risk_areas, &fold.risk);
        source.live = fold
            .persons
            .iter()
            .map(|(h, r)| (*h, r.as_slice()))
            .collect();
        if !source.live.is_empty() {
            // Live records of people absent from the feeds make persons of their own.
            let mut known: Vec<u64> = (0..people.len())
                .map(|p| key.hash_id(people.id(p)))
                .collect();
            known.sort_unstable();
            for (h, records) in &source.live {
                if known.binary_search(h).is_err() {
                    let mut p = PersonRecords::default();
                    records.iter().for_each(|r| r.add_to(&mut p));
                    source.absent.push((*h, p));
                }
            }
        }
    }
    timings.push((Stage::Joining, t.elapsed()));

    stage(Stage::Encoding, &mut t);
    let settings = BuildSettings {
        risk_areas: &risk_areas,
        regions: feeds.regions.as_ref(),
        data_as_of,
        folded: fold.map(|f| (f.log_id, f.through)),
        home: opts.home.or(feeds.home).or(opts.home_otherwise),
    };
    let (bytes, stats) = build_from(&source, &settings, key)?;
    drop(source);
    drop(people);
    drop(feeds);
    timings.push((Stage::Encoding, t.elapsed()));

    stage(Stage::Verifying, &mut t);
    Index::open(bytes.as_slice(), key)
        .and_then(|index| index.verify())
        .map_err(PipelineError::Verify)?;
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

/// The latest day the feeds' records and designations observe, as a build from them alone
/// would date its index.
fn feeds_data_date(people: &People, risk_areas: &[RiskArea]) -> Option<Day> {
    let mut p = PersonRecords::default();
    let persons = (0..people.len()).filter_map(|i| {
        people.fill(i, &mut p);
        latest_observed(&p)
    });
    persons
        .chain(risk_areas.iter().map(|z| z.period.from))
        .max()
}

/// The feeds' persons with the live records of a fold added: a person of the feeds gets the
/// live records of its keyed hash, and live records of anyone else make persons known only by
/// hash.
struct FoldedPeople<'a> {
    people: &'a People,
    key: &'a Key,
    /// Live records by keyed hash.
    live: HashMap<u64, &'a [PersonRecord]>,
    /// Persons absent from the feeds, with their live records.
    absent: Vec<(u64, PersonRecords)>,
}

impl PersonSource for FoldedPeople<'_> {
    fn count(&self) -> usize {
        self.people.len() + self.absent.len()
    }

    fn ident(&self, i: usize) -> Ident {
        match i.checked_sub(self.people.len()) {
            None => Ident::Id(self.people.id(i)),
            Some(a) => Ident::Hash(self.absent[a].0),
        }
    }

    fn fill(&self, i: usize, out: &mut PersonRecords) {
        match i.checked_sub(self.people.len()) {
            None => {
                self.people.fill(i, out);
                if !self.live.is_empty()
                    && let Some(records) = self.live.get(&self.key.hash_id(self.people.id(i)))
                {
                    records.iter().for_each(|r| r.add_to(out));
                }
            }
            Some(a) => out.clone_from(&self.absent[a].1),
        }
    }
}
