//! The feed readers of DOMAIN.md §3: a feed directory of CSV (or `.csv.gz`) files in, validated
//! rows and a rejects report out.
//!
//! Every file is optional and streamed through one reused record buffer; headers may name the
//! columns in any order. `regions.csv`, when present, is read first and extends the bundled
//! region table that every other file's region codes are checked against. Each bad row is
//! written to the rejects sink as `file:line: reason` the moment it is read (nothing
//! accumulates), and the load fails when a file's rejected share exceeds
//! [`FeedOptions::max_reject_ratio`] (or on any reject with [`FeedOptions::strict`]).
//!
//! Invariant: the bundled region table is only cloned when the feed has a `regions.csv`.

mod people;
mod reader;
mod report;
mod rows;
pub mod schema;

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::domain::{RegionCode, RiskArea};
use crate::regions::{RegionRowError, RegionTable};

pub use people::{People, people, risk_area_set};
pub use report::{FileReport, RejectShare, Report};
pub use rows::{
    ArrivalRow, BindingRow, CdcRow, CommunityRow, PersonStayRow, PhoneStatusRow, PhoneStayRow,
    RegistrationRow, VerificationRow,
};
pub use schema::{FILES, FileSpec};

use reader::FoundFile;
use report::RejectSink;
use rows::Parser;

/// How strict a load is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeedOptions {
    /// The largest rejected share of any one file that still loads (0.001 = 0.1 %).
    pub max_reject_ratio: f64,
    /// Fail on any reject, whatever the ratio.
    pub strict: bool,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            max_reject_ratio: 0.001,
            strict: false,
        }
    }
}

/// Everything a feed directory holds, validated, in file order.
#[derive(Clone)]
pub struct Feeds {
    /// The effective region table: the bundled one, plus the feed's `regions.csv` if any
    /// (borrowed from the bundled table when there is none).
    pub regions: Cow<'static, RegionTable>,
    /// `dataset.csv`'s `home`: the deployment's home region, if the feeds name one.
    pub home: Option<RegionCode>,
    /// `bindings.csv`.
    pub bindings: Vec<BindingRow>,
    /// `phone_stays.csv`.
    pub phone_stays: Vec<PhoneStayRow>,
    /// `person_stays.csv`.
    pub person_stays: Vec<PersonStayRow>,
    /// `cdc.csv`.
    pub cdc: Vec<CdcRow>,
    /// `community.csv`.
    pub community: Vec<CommunityRow>,
    /// `arrivals.csv`.
    pub arrivals: Vec<ArrivalRow>,
    /// `registrations.csv`.
    pub registrations: Vec<RegistrationRow>,
    /// `risk_areas.csv`.
    pub risk_areas: Vec<RiskArea>,
    /// `verifications.csv`.
    pub verifications: Vec<VerificationRow>,
    /// `phone_status.csv`.
    pub phone_status: Vec<PhoneStatusRow>,
}

impl std::fmt::Debug for Feeds {
    /// Counts only: the region table alone has 665,000 entries.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds")
            .field("regions", &self.regions.len())
            .field("home", &self.home)
            .field("bindings", &self.bindings.len())
            .field("phone_stays", &self.phone_stays.len())
            .field("person_stays", &self.person_stays.len())
            .field("cdc", &self.cdc.len())
            .field("community", &self.community.len())
            .field("arrivals", &self.arrivals.len())
            .field("registrations", &self.registrations.len())
            .field("risk_areas", &self.risk_areas.len())
            .field("verifications", &self.verifications.len())
            .field("phone_status", &self.phone_status.len())
            .finish()
    }
}

impl Default for Feeds {
    /// The feeds of an empty directory: no records, the bundled region table.
    fn default() -> Self {
        Feeds {
            regions: Cow::Borrowed(RegionTable::bundled()),
            home: None,
            bindings: Vec::new(),
            phone_stays: Vec::new(),
            person_stays: Vec::new(),
            cdc: Vec::new(),
            community: Vec::new(),
            arrivals: Vec::new(),
            registrations: Vec::new(),
            risk_areas: Vec::new(),
            verifications: Vec::new(),
            phone_status: Vec::new(),
        }
    }
}

/// Why a feed directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The directory does not exist.
    #[error("feed directory {} does not exist", .0.display())]
    NoDirectory(PathBuf),
    /// The path is not a directory.
    #[error("{} is not a directory (--feeds takes the directory that holds the CSV files)", .0.display())]
    NotADirectory(PathBuf),
    /// A file exists both plain and compressed.
    #[error("both {} and {} exist: keep one of them", plain.display(), gz.display())]
    BothPlainAndGz {
        /// The `.csv` path.
        plain: PathBuf,
        /// The `.csv.gz` path.
        gz: PathBuf,
    },
    /// Reading a file failed (including a corrupt `.gz`).
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        cause: std::io::Error,
    },
    /// Writing the rejects report failed.
    #[error("writing the rejects report: {0}")]
    Rejects(std::io::Error),
    /// The reject ratio limit is not a number between 0 and 1.
    #[error("max reject ratio {0} is not between 0 and 1")]
    InvalidRatio(f64),
    /// One or more files broke the reject threshold; the report is kept for the summary.
    #[error("{}", report::too_many_message(offending, *max_reject_ratio, *strict))]
    TooManyRejects {
        /// The files over the threshold.
        offending: Vec<RejectShare>,
        /// The limit in force.
        max_reject_ratio: f64,
        /// Whether any reject failed the load.
        strict: bool,
        /// The full report.
        report: Box<Report>,
    },
}

/// Reads and validates a feed directory, keeping every good row. Rejects stream into `rejects`
/// as `file:line: reason` lines; fails with [`FeedError::TooManyRejects`] when a file breaks
/// the threshold of `opts`.
pub fn load(
    dir: &Path,
    opts: &FeedOptions,
    rejects: &mut dyn Write,
) -> Result<(Feeds, Report), FeedError> {
    let (feeds, report) = read_dir(dir, opts, rejects, true)?;
    Ok((feeds, report.enforce(opts)?))
}

/// Validates a feed directory like [`load`] without keeping the rows.
pub fn check(dir: &Path, opts: &FeedOptions, rejects: &mut dyn Write) -> Result<Report, FeedError> {
    let (_, report) = read_dir(dir, opts, rejects, false)?;
    report.enforce(opts)
}

/// Reads every file of the table in order; `keep` = false validates and counts only.
fn read_dir(
    dir: &Path,
    opts: &FeedOptions,
    rejects: &mut dyn Write,
    keep: bool,
) -> Result<(Feeds, Report), FeedError> {
    if !(0.0..=1.0).contains(&opts.max_reject_ratio) {
        return Err(FeedError::InvalidRatio(opts.max_reject_ratio));
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(FeedError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FeedError::NoDirectory(dir.to_path_buf()));
        }
        Err(source) => {
            return Err(FeedError::Io {
                path: dir.to_path_buf(),
                cause: source,
            });
        }
    }
    // Find every file before reading any: a plain+gz clash fails fast, not after an hour.
    let found = FILES
        .iter()
        .map(|spec| reader::locate(dir, spec))
        .collect::<Result<Vec<_>, _>>()?;
    let mut run = Run {
        sink: RejectSink::new(rejects),
        report: Report {
            files: Vec::with_capacity(FILES.len()),
            warnings: unknown_files(dir)?,
        },
        found,
        keep,
    };
    let mut f = Feeds::default();
    use rows::*;
    use schema::*;
    run.regions(&REGIONS, &mut f.regions)?;
    let t: &RegionTable = &f.regions;
    f.home = run.dataset(&DATASET, t)?;
    run.rows(&BINDINGS, t, binding, &mut f.bindings)?;
    run.rows(&PHONE_STAYS, t, phone_stay, &mut f.phone_stays)?;
    run.rows(&PERSON_STAYS, t, person_stay, &mut f.person_stays)?;
    run.rows(&CDC, t, cdc, &mut f.cdc)?;
    run.rows(&COMMUNITY, t, community, &mut f.community)?;
    run.rows(&ARRIVALS, t, arrival, &mut f.arrivals)?;
    run.rows(&REGISTRATIONS, t, registration, &mut f.registrations)?;
    run.rows(&RISK_AREAS, t, risk_area, &mut f.risk_areas)?;
    run.rows(&VERIFICATIONS, t, verification, &mut f.verifications)?;
    run.rows(&PHONE_STATUS, t, phone_status, &mut f.phone_status)?;
    debug_assert!(
        run.report
            .files
            .iter()
            .map(|f| f.spec_name)
            .eq(FILES.iter().map(|f| f.name)),
        "every file of the table is read, in table order"
    );
    run.sink.flush()?;
    Ok((f, run.report))
}

/// The state of one directory read.
struct Run<'w> {
    sink: RejectSink<'w>,
    report: Report,
    /// What [`reader::locate`] found for each file of [`FILES`], in table order.
    found: Vec<Option<FoundFile>>,
    keep: bool,
}

impl Run<'_> {
    /// The file found for `spec`, and its report entry (not yet pushed).
    fn start(&mut self, spec: &'static FileSpec) -> (Option<FoundFile>, FileReport) {
        let i = FILES.iter().position(|f| f.name == spec.name);
        let file = self.found[i.expect("a file of the table")].take();
        let report = FileReport {
            spec_name: spec.name,
            file: file.as_ref().map(|f| f.name.clone()),
            ..FileReport::default()
        };
        (file, report)
    }

    /// Reads one data file into `out` (or only counts, when not keeping rows).
    fn rows<T>(
        &mut self,
        spec: &'static FileSpec,
        table: &RegionTable,
        parse: Parser<T>,
        out: &mut Vec<T>,
    ) -> Result<(), FeedError> {
        let keep = self.keep;
        self.each_row(spec, |f, _| {
            let row = parse(f, table)?;
            if keep {
                out.push(row);
            }
            Ok(())
        })
    }

    /// Reads one file of the table, if present, handing `row` each row's fields and line (an
    /// error rejects the row), and records its report.
    fn each_row(
        &mut self,
        spec: &'static FileSpec,
        row: impl FnMut(&reader::Fields<'_>, u64) -> Result<(), String>,
    ) -> Result<(), FeedError> {
        let (file, mut fr) = self.start(spec);
        if let Some(file) = file {
            reader::read_file(
                spec,
                &file,
                &mut fr,
                &mut self.sink,
                &mut self.report.warnings,
                row,
            )?;
        }
        self.report.files.push(fr);
        Ok(())
    }

    /// Reads `dataset.csv`: its home region, if it names one. A second `home` row is rejected
    /// (naming the line of the first); another key is a warning.
    fn dataset(
        &mut self,
        spec: &'static FileSpec,
        table: &RegionTable,
    ) -> Result<Option<RegionCode>, FeedError> {
        let mut home: Option<(RegionCode, u64)> = None;
        let mut unknown = Vec::new();
        self.each_row(spec, |f, line| match rows::dataset(f, table)? {
            rows::DatasetRow::Home(h) => match home {
                Some((first, at)) => Err(format!(
                    "home given again (line {at} named {first}): one home region a data set"
                )),
                None => {
                    home = Some((h, line));
                    Ok(())
                }
            },
            rows::DatasetRow::Other(key) => {
                unknown.push((line, key));
                Ok(())
            }
        })?;
        // Named as the file was found (`dataset.csv` or `dataset.csv.gz`).
        let name = self.report.files.last().and_then(|f| f.file.clone());
        let name = name.as_deref().unwrap_or(spec.name);
        for (line, key) in unknown {
            self.report.warnings.push(format!(
                "{name}:{line}: unknown key {}, ignored (known: home)",
                reader::quote(&key)
            ));
        }
        Ok(home.map(|(h, _)| h))
    }

    /// Reads `regions.csv` into the effective table. A row whose parent comes later in the
    /// file is retried once the file is read, so the rows may come in any order.
    fn regions(
        &mut self,
        spec: &'static FileSpec,
        table: &mut Cow<'static, RegionTable>,
    ) -> Result<(), FeedError> {
        let (file, mut fr) = self.start(spec);
        let Some(file) = file else {
            self.report.files.push(fr);
            return Ok(());
        };
        let mut waiting: Vec<(u64, [String; 4])> = Vec::new();
        reader::read_file(
            spec,
            &file,
            &mut fr,
            &mut self.sink,
            &mut self.report.warnings,
            |f, line| {
                let cols = [f.get(0)?, f.get(1)?, f.get(2)?, f.get(3)?];
                match table
                    .to_mut()
                    .insert_row(cols[0], cols[1], cols[2], cols[3])
                {
                    Err(RegionRowError::UnknownParent(_)) => {
                        waiting.push((line, cols.map(str::to_string)));
                        Ok(())
                    }
                    r => r.map_err(|e| e.to_string()),
                }
            },
        )?;
        // Rows waiting for a parent defined later: retry until no more row gets in.
        while !waiting.is_empty() {
            let before = waiting.len();
            let table = table.to_mut();
            waiting.retain(|(_, c)| table.insert_row(&c[0], &c[1], &c[2], &c[3]).is_err());
            if waiting.len() == before {
                break;
            }
        }
        for (line, c) in &waiting {
            let e = table
                .to_mut()
                .insert_row(&c[0], &c[1], &c[2], &c[3])
                .expect_err("still failing");
            fr.accepted -= 1;
            fr.rejected += 1;
            self.sink.write(&file.name, *line, &e.to_string())?;
        }
        self.report.files.push(fr);
        Ok(())
    }
}

/// Warnings for CSV files in the directory that are not feed files (a misspelt name would
/// otherwise mean silently missing data).
fn unknown_files(dir: &Path) -> Result<Vec<String>, FeedError> {
    let io = |source| FeedError::Io {
        path: dir.to_path_buf(),
        cause: source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        let plain = name.strip_suffix(".gz").unwrap_or(&name);
        if plain.ends_with(".csv") && !FILES.iter().any(|f| f.name == plain) {
            out.push(format!("{name}: not a feed file, ignored"));
        }
    }
    out.sort();
    Ok(out)
}
