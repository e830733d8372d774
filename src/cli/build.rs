//! `healthcode build --feeds DIR --out FILE`: validates the feeds and writes an index file
//! atomically, printing each stage, the rejects summary and the size per person.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use healthcode::domain::{Day, Precision, RegionCode};
use healthcode::feeds::{FeedError, FeedOptions};
use healthcode::key::Key;
use healthcode::pipeline::{self, BuildOptions, PipelineError};
use healthcode::regions::RegionTable;

/// Arguments of `healthcode build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The feed directory (DOMAIN.md §3 files, plain or .gz).
    #[arg(long)]
    feeds: PathBuf,
    /// The index file to write (atomically: never half-written at this path).
    #[arg(long)]
    out: PathBuf,
    /// Secret pseudonymisation key (default: `key` in the healthcode home, created on first use).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Largest rejected share of any one file that still builds.
    #[arg(long, default_value_t = 0.001)]
    max_reject_ratio: f64,
    /// Fail on any rejected row.
    #[arg(long)]
    strict: bool,
    /// Where the rejects report goes (default: FILE.rejects.txt beside the index).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// The data date to record (default: the latest day observed in the feeds).
    #[arg(long)]
    data_as_of: Option<String>,
    /// The home region to record (a city such as 1101, or a province), over the feeds'
    /// `dataset.csv`.
    #[arg(long, value_name = "REGION")]
    home: Option<String>,
}

/// Runs `healthcode build`.
pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let key = Key::load_or_default(args.key_file.as_deref())?;
    let opts = BuildOptions {
        feeds: FeedOptions {
            max_reject_ratio: args.max_reject_ratio,
            strict: args.strict,
        },
        data_as_of: args
            .data_as_of
            .as_deref()
            .map(Day::parse)
            .transpose()
            .context("--data-as-of")?,
        home: args.home.as_deref().map(parse_home).transpose()?,
        home_otherwise: None,
    };
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut p = args.out.clone().into_os_string();
        p.push(".rejects.txt");
        PathBuf::from(p)
    });
    match build(&args.feeds, &args.out, &rejects_path, &key, &opts) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(BuildFailure::Threshold(msg)) => {
            eprintln!("healthcode: {msg}");
            eprintln!("healthcode: nothing was written to {}", args.out.display());
            Ok(ExitCode::from(1))
        }
        Err(BuildFailure::Other(e)) => Err(e),
    }
}

/// A `--home` region: a province or a city of the bundled table (a feed's `regions.csv` may
/// add regions, but a home it alone knows is named in its `dataset.csv`).
fn parse_home(text: &str) -> anyhow::Result<RegionCode> {
    let code = RegionCode::parse(text).with_context(|| format!("--home {text:?}"))?;
    if code.precision() > Precision::City {
        anyhow::bail!(
            "--home {code}: a {} code; the home region is a city or a province",
            code.precision()
        );
    }
    if !RegionTable::bundled().contains(code) {
        anyhow::bail!("--home {code}: not a region of the table");
    }
    Ok(code)
}

/// A build that failed on the reject threshold (exit 1) or otherwise (exit 2).
pub enum BuildFailure {
    /// Too many rejected rows.
    Threshold(String),
    /// Anything else.
    Other(anyhow::Error),
}

/// Builds with progress lines on stderr; the rejects report is written atomically when there
/// are rejects (and a stale one removed when there are none).
pub fn build(
    feeds: &std::path::Path,
    out: &std::path::Path,
    rejects_path: &std::path::Path,
    key: &Key,
    opts: &BuildOptions,
) -> Result<(), BuildFailure> {
    let started = Instant::now();
    let other = |e: std::io::Error| {
        BuildFailure::Other(
            anyhow::Error::new(e).context(format!("rejects report {}", rejects_path.display())),
        )
    };
    let dir = rejects_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(other)?;
    // Rejects stream to a temporary file beside the report, kept only when there are any.
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(other)?;
    let mut rejects = std::io::BufWriter::new(tmp);
    let result = pipeline::build_index(feeds, out, key, opts, &mut rejects, &mut |s| {
        eprintln!(
            "healthcode build: [{:>6.1?}] {}",
            started.elapsed(),
            s.describe()
        );
    });
    let tmp = rejects.into_inner().map_err(|e| other(e.into_error()))?;
    if tmp.as_file().metadata().map_err(other)?.len() > 0 {
        tmp.as_file().sync_all().map_err(other)?;
        tmp.persist(rejects_path).map_err(|e| other(e.error))?;
        eprintln!(
            "healthcode build: rejected rows listed in {}",
            rejects_path.display()
        );
    } else if rejects_path.exists() {
        std::fs::remove_file(rejects_path).map_err(other)?;
    }
    let outcome = match result {
        Ok(o) => o,
        Err(PipelineError::Feeds(e @ FeedError::TooManyRejects { .. })) => {
            if let FeedError::TooManyRejects { report, .. } = &e {
                super::check::print_warnings(report);
                eprint!("{}", report.summary_table());
            }
            return Err(BuildFailure::Threshold(e.to_string()));
        }
        Err(e) => return Err(BuildFailure::Other(e.into())),
    };
    super::check::print_warnings(&outcome.report);
    eprint!("{}", outcome.report.summary_table());
    let s = &outcome.stats;
    eprintln!(
        "healthcode build: wrote {} — {} persons, {} bytes ({:.1} bytes per person), data as of {}, in {:.1?}",
        out.display(),
        s.persons,
        s.bytes,
        s.bytes_per_person(),
        s.data_as_of,
        started.elapsed()
    );
    eprintln!(
        "healthcode build: home region {}",
        s.home.map_or_else(
            || "none (every region treated alike)".to_string(),
            |h| format!("{} ({h})", RegionTable::bundled().name(h))
        )
    );
    for (id, bytes) in &s.sections {
        eprintln!(
            "  {:<15} {:>12} bytes  {:>6.1} per person",
            id.name(),
            bytes,
            *bytes as f64 / s.persons.max(1) as f64
        );
    }
    Ok(())
}
