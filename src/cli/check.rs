//! `healthcode check`: validates a feed directory and prints the rejects report (stdout or an
//! atomically written file), warnings and a per-file summary (stderr). Exit 0 within the
//! threshold, 1 beyond it, 2 when the feeds cannot be read at all.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use healthcode::feeds::{self, FeedError, FeedOptions, Report};

/// Arguments of `healthcode check`.
#[derive(clap::Args)]
#[command(after_long_help = files_help())]
pub struct CheckArgs {
    /// The feed directory: the CSV (or .csv.gz) files listed below.
    #[arg(long, value_name = "DIR")]
    feeds: PathBuf,
    /// The largest rejected share of any one file that still passes (0.001 = 0.1 %).
    #[arg(long, value_name = "R", default_value_t = FeedOptions::default().max_reject_ratio,
          value_parser = parse_ratio)]
    max_reject_ratio: f64,
    /// Fail on any rejected row, whatever the ratio.
    #[arg(long)]
    strict: bool,
    /// Write the reject lines to FILE (replaced atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
}

fn files_help() -> String {
    format!(
        "Feed files (all optional, plain or .gz; `?` = the value may be empty):\n\n{}",
        feeds::schema::schema_table()
    )
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{s} is not between 0 and 1 (0.001 = 0.1 %)"))
    }
}

/// Runs `healthcode check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let opts = FeedOptions {
        max_reject_ratio: args.max_reject_ratio,
        strict: args.strict,
    };
    let result = match &args.rejects {
        None => {
            let mut out = BufWriter::new(io::stdout().lock());
            let r = feeds::check(&args.feeds, &opts, &mut out);
            out.flush()
                .context("writing the rejects report to stdout")?;
            r
        }
        Some(path) => {
            let mut file = AtomicFile::create(path)?;
            let r = feeds::check(&args.feeds, &opts, &mut file.out);
            // A report over the threshold is exactly the one the operator needs to read.
            if matches!(r, Ok(_) | Err(FeedError::TooManyRejects { .. })) {
                file.commit()?;
            }
            r
        }
    };
    match result {
        Ok(report) => {
            summarise(&report, args.rejects.as_deref());
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ FeedError::TooManyRejects { .. }) => {
            let message = e.to_string();
            if let FeedError::TooManyRejects { report, .. } = e {
                summarise(&report, args.rejects.as_deref());
            }
            eprintln!("healthcode: check failed: {message}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("checking {}", args.feeds.display()))),
    }
}

/// A feed directory's warnings (unknown columns and files, empty files: what rejects no row
/// but may mean a misnamed file or column), one line each, to stderr.
pub fn print_warnings(report: &Report) {
    let mut err = io::stderr().lock();
    for w in &report.warnings {
        let _ = writeln!(err, "healthcode: warning: {w}");
    }
}

/// Warnings, then the per-file table, to stderr.
fn summarise(report: &Report, rejects: Option<&Path>) {
    print_warnings(report);
    let mut err = io::stderr().lock();
    let _ = write!(err, "{}", report.summary_table());
    if let Some(path) = rejects {
        let _ = writeln!(
            err,
            "{} rejected rows reported in {}",
            report.total_rejected(),
            path.display()
        );
    }
}

/// A file written under a temporary name in the same directory and renamed into place on
/// commit, so `path` never holds a half-written report; dropped uncommitted, it vanishes.
struct AtomicFile {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    fn create(path: &Path) -> anyhow::Result<AtomicFile> {
        let name = path
            .file_name()
            .with_context(|| format!("--rejects {} names no file", path.display()))?;
        let tmp = path.with_file_name(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        Ok(AtomicFile {
            out: BufWriter::new(file),
            tmp,
            path: path.to_path_buf(),
            committed: false,
        })
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        let ctx = || format!("writing {}", self.tmp.display());
        self.out.flush().with_context(ctx)?;
        self.out.get_ref().sync_all().with_context(ctx)?;
        std::fs::rename(&self.tmp, &self.path).with_context(|| {
            format!("renaming {} to {}", self.tmp.display(), self.path.display())
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
