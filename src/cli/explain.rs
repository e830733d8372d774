//! `healthcode explain --feeds DIR ID`: applies the rules to one person straight from a feed
//! directory, without an index or a server — the offline check of what a query would answer.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use healthcode::domain::{Day, IdNumber, Policy, evaluate};
use healthcode::feeds::{self, FeedOptions};

/// Arguments of `healthcode explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The document number.
    id: String,
    /// The feed directory.
    #[arg(long)]
    feeds: PathBuf,
    /// The query day (default: today in Beijing).
    #[arg(long)]
    today: Option<String>,
    /// Rules policy: precision-aware, city-level, or both.
    #[arg(long, default_value = "both")]
    policy: String,
}

/// Runs `healthcode explain`.
pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let id = IdNumber::parse(args.id.trim()).map_err(|e| anyhow::anyhow!("id_number: {e}"))?;
    let day = args
        .today
        .as_deref()
        .map(Day::parse)
        .transpose()
        .context("--today")?
        .unwrap_or_else(Day::today_beijing);
    let policies: Vec<Policy> = match args.policy.as_str() {
        "both" => Policy::ALL.to_vec(),
        p => vec![p.parse().map_err(anyhow::Error::msg)?],
    };
    let opts = FeedOptions {
        max_reject_ratio: 1.0,
        strict: false,
    };
    let (feeds, report) = feeds::load(&args.feeds, &opts, &mut std::io::sink())?;
    super::check::print_warnings(&report);
    if report.total_rejected() > 0 {
        eprintln!(
            "healthcode: {} rejected rows ignored (see `healthcode check`)",
            report.total_rejected()
        );
    }
    let people = feeds::people(&feeds);
    let areas = feeds::risk_area_set(&feeds);
    let Some(records) = people.get(&id) else {
        println!(
            "{}: no record in any feed — green (known = false)",
            id.masked()
        );
        return Ok(ExitCode::SUCCESS);
    };
    for policy in policies {
        let code = evaluate(records, &areas, day, policy);
        println!(
            "{} as of {day} under {policy}: {} · travel {}",
            id.masked(),
            code.color.as_str().to_uppercase(),
            if code.travel_allowed {
                "allowed"
            } else {
                "NOT allowed"
            }
        );
        for f in &code.findings {
            let region = f
                .region
                .map(|r| format!(" in {} ({r})", feeds.regions.full_name(r)))
                .unwrap_or_default();
            let area = f
                .risk_area
                .map(|a| format!(", risk area {a}"))
                .unwrap_or_default();
            let tail = f
                .phone_tail
                .map(|t| format!(", phone ending {t}"))
                .unwrap_or_default();
            let blocks = if f.blocks_travel {
                "blocks travel"
            } else {
                "popup"
            };
            println!("  - {}{region}{area}, {}{tail}, {blocks}", f.reason, f.day);
        }
    }
    Ok(ExitCode::SUCCESS)
}
