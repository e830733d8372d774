//! `healthcode eval --feeds DIR --truth FILE`: builds the index of a feed directory (or opens a
//! prebuilt one), answers every person of the truth under both policies exactly as the server
//! would, and prints how often each policy misfires (the definitions are in `healthcode::eval`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use healthcode::domain::{Day, Policy};
use healthcode::eval::{self, Truth};
use healthcode::feeds::FeedOptions;
use healthcode::key::Key;
use healthcode::pipeline::{self, BuildOptions};
use healthcode::serve::open_index;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Arguments of `healthcode eval`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["feeds", "index"])))]
pub struct EvalArgs {
    /// The feed directory: its index is built into a temporary file, removed afterwards.
    #[arg(long)]
    feeds: Option<PathBuf>,
    /// A prebuilt index file to evaluate instead of building one.
    #[arg(long)]
    index: Option<PathBuf>,
    /// Where each person really was: `truth.csv` of `healthcode gen` (id_number, region,
    /// first_day, last_day at street precision).
    #[arg(long)]
    truth: PathBuf,
    /// The query day (default: the index's data date).
    #[arg(long, value_parser = parse_day)]
    today: Option<Day>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Secret pseudonymisation key. With --index: the key it was built with (default: `key` in
    /// the healthcode home). With --feeds: default a fresh key used for this run only.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Largest rejected share of any one feed file that still builds (with --feeds).
    #[arg(long, default_value_t = 0.001)]
    max_reject_ratio: f64,
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

/// Runs `healthcode eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let stage = |what: &str| {
        eprintln!("healthcode eval: [{:>6.1?}] {what}", started.elapsed());
    };
    // The truth first: a bad row fails before the slower build.
    stage("reading the truth");
    let truth = Truth::read(&args.truth)?;

    // A built index lives in a temporary directory that is removed when this ends.
    let mut workdir = None;
    let (index_path, key) = match (&args.index, &args.feeds) {
        (Some(index), _) => (
            index.clone(),
            Key::load_or_default(args.key_file.as_deref())?,
        ),
        (None, Some(feeds)) => {
            let key = match &args.key_file {
                Some(p) => Key::load(p)?,
                None => Key::random()?,
            };
            let dir = tempfile::Builder::new()
                .prefix("healthcode-eval-")
                .tempdir()
                .context("temporary directory for the index")?;
            let out = dir.path().join("index.hcx");
            let opts = BuildOptions {
                feeds: FeedOptions {
                    max_reject_ratio: args.max_reject_ratio,
                    strict: false,
                },
                data_as_of: None,
                ..Default::default()
            };
            let mut rejects = std::io::BufWriter::new(
                std::fs::File::create(dir.path().join("rejects.txt")).context("rejects report")?,
            );
            let outcome = pipeline::build_index(feeds, &out, &key, &opts, &mut rejects, &mut |s| {
                stage(s.describe())
            })
            .with_context(|| format!("building the index of {}", feeds.display()))?;
            super::check::print_warnings(&outcome.report);
            let rejected = outcome.report.total_rejected();
            if rejected > 0 {
                eprintln!(
                    "healthcode eval: {rejected} rejected feed rows left out (see `healthcode check --feeds {}`)",
                    feeds.display()
                );
            }
            workdir = Some(dir);
            (out, key)
        }
        (None, None) => unreachable!("clap requires --feeds or --index"),
    };

    stage("opening and verifying the index");
    let index = open_index(&index_path, &key)?;
    let today = args.today.unwrap_or_else(|| index.data_as_of());

    if let Some(last) = truth.last_day()
        && last < today
    {
        eprintln!(
            "healthcode eval: warning: the truth ends on {last}, before the query day {today}: \
             where persons were after it is unknown"
        );
    }
    let persons = truth.exposure(index.risk_areas().areas(), today, index.home());
    drop(truth);

    stage(&format!(
        "evaluating {} persons under both policies as of {today}",
        persons.len()
    ));
    let bar =
        ProgressBar::with_draw_target(Some(persons.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} persons ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let report = eval::evaluate(&index, &key, &persons, today, &Policy::ALL, &|n| bar.inc(n));
    bar.finish_and_clear();
    let report = report?;
    if report.unknown > 0 {
        eprintln!(
            "healthcode eval: {} persons of the truth are not in the index (answered green, known = false)",
            report.unknown
        );
    }
    if index.persons() as u64 > persons.len() as u64 - report.unknown {
        eprintln!(
            "healthcode eval: {} persons of the index have no truth and were not evaluated",
            index.persons() as u64 - (persons.len() as u64 - report.unknown)
        );
    }
    stage("done");
    drop(index);
    drop(workdir);

    let text = if args.json {
        report.to_json() + "\n"
    } else {
        report.table()
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}
