//! `healthcode gen`: writes a synthetic feed directory (plus `truth.csv`) over the bundled region
//! table, with a progress bar on stderr and a summary on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use healthcode::domain::{Day, RegionCode};
use healthcode::regions::RegionTable;
use healthcode::synth::{self, DEFAULT_CITY, DEFAULT_TODAY, GenConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Arguments of `healthcode gen`.
#[derive(clap::Args)]
pub struct GenArgs {
    /// Number of residents to generate.
    #[arg(long, default_value_t = 10_000)]
    persons: u64,
    /// Seed of every random choice: the same arguments give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory; created when missing.
    #[arg(long)]
    out: PathBuf,
    /// The query day the data is generated around (YYYY-MM-DD); a fixed day by default so the
    /// output never depends on the clock.
    #[arg(long, default_value = DEFAULT_TODAY, value_parser = parse_day)]
    today: Day,
    /// The home city of the residents (a 4-digit code of the region table).
    #[arg(long, default_value = DEFAULT_CITY, value_parser = parse_region)]
    city: RegionCode,
    /// Write into a directory that holds files gen did not write (only gen's own file names
    /// are replaced; nothing else is removed).
    #[arg(long)]
    force: bool,
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

fn parse_region(s: &str) -> Result<RegionCode, String> {
    RegionCode::parse(s).map_err(|e| e.to_string())
}

/// The progress bar of a generation run, on stderr.
pub fn progress_bar(persons: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(persons), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} persons ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Runs `healthcode gen`.
pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let cfg = GenConfig {
        persons: args.persons,
        seed: args.seed,
        today: args.today,
        city: args.city,
    };
    let bar = progress_bar(cfg.persons);
    let summary = synth::generate(&cfg, &args.out, args.force, &mut |done| {
        bar.set_position(done)
    });
    bar.finish_and_clear();
    let summary = summary?;
    let elapsed = started.elapsed();

    let table = RegionTable::bundled();
    let mut text = String::new();
    let mut line = |l: String| {
        text.push_str(&l);
        text.push('\n');
    };
    line(format!(
        "generated {} persons (seed {}, today {}, home city {} {}) into {} in {:.1} s",
        summary.persons,
        cfg.seed,
        cfg.today,
        cfg.city,
        table.full_name(cfg.city),
        args.out.display(),
        elapsed.as_secs_f64()
    ));
    line(format!("  {:<20} {:>12} {:>12}", "file", "rows", "bytes"));
    let (mut rows, mut bytes) = (0, 0);
    for (feed, r, b) in &summary.files {
        line(format!("  {:<20} {:>12} {:>12}", feed.file_name(), r, b));
        rows += r;
        bytes += b;
    }
    line(format!("  {:<20} {:>12} {:>12}", "total", rows, bytes));
    line(format!(
        "  {} destination cities; {} risk areas:",
        summary.destinations.len(),
        summary.risk_areas.len()
    ));
    for z in &summary.risk_areas {
        let to =
            z.to.map_or_else(|| "still active".to_string(), |t| format!("to {t}"));
        line(format!(
            "    {:<12} {:<6} from {} {:<14} {}",
            z.area.to_string(),
            z.level.as_str(),
            z.from,
            to,
            table.full_name(z.area)
        ));
    }
    // The data is written; a closed stdout (`| head`) is no failure.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}
