//! The demo data set behind `serve --demo`: generated, built and given credentials once, in
//! `demo/` under the healthcode home directory, then reused.

use std::path::{Path, PathBuf};

use anyhow::Context;
use healthcode::domain::{Color, Day, Reason, RegionCode};
use healthcode::key::Key;
use healthcode::pipeline::BuildOptions;
use healthcode::serve::State;
use healthcode::serve::auth::new_secret;
use healthcode::synth::{self, GenConfig};

/// Where the demo lives.
pub struct Demo {
    /// Its feed directory.
    pub feeds: PathBuf,
    /// Its index file.
    pub index: PathBuf,
    /// Its tokens file.
    pub tokens: PathBuf,
    /// Its state directory (live-update log, rebuilt indexes).
    pub state: PathBuf,
}

/// The demo directory.
pub fn dir() -> anyhow::Result<PathBuf> {
    Ok(Key::home_dir()?.join("demo"))
}

/// Makes sure the demo feeds, index and tokens exist, creating what is missing.
pub fn ensure(key: &Key, persons: u64) -> anyhow::Result<Demo> {
    let dir = dir()?;
    let demo = Demo {
        feeds: dir.join("feeds"),
        index: dir.join("index.hcx"),
        tokens: dir.join("tokens"),
        state: dir.join("state"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Feeds an older healthcode generated lack `dataset.csv`, so their index has no home region:
    // both are made again (the same seed gives the same persons).
    let stale =
        demo.feeds.join("bindings.csv").exists() && !demo.feeds.join("dataset.csv").exists();
    if stale {
        tracing::info!(
            feeds = %demo.feeds.display(),
            "the demo data set in {} predates home regions: generating it again",
            demo.feeds.display()
        );
    }
    if !demo.index.exists() || stale {
        if !demo.feeds.join("bindings.csv").exists() || stale {
            tracing::info!(
                persons,
                feeds = %demo.feeds.display(),
                "generating a demo data set of {persons} persons in {}",
                demo.feeds.display()
            );
            let cfg = GenConfig {
                persons,
                seed: 1,
                today: Day::parse(synth::DEFAULT_TODAY).expect("valid default day"),
                city: RegionCode::parse(synth::DEFAULT_CITY).expect("valid default city"),
            };
            let bar = super::generate::progress_bar(persons);
            synth::generate(&cfg, &demo.feeds, true, &mut |n| bar.set_position(n))?;
            bar.finish_and_clear();
        }
        tracing::info!(
            index = %demo.index.display(),
            "building the demo index {}",
            demo.index.display()
        );
        super::build::build(
            &demo.feeds,
            &demo.index,
            &dir.join("rejects.txt"),
            key,
            &BuildOptions::default(),
        )
        .map_err(|e| match e {
            super::build::BuildFailure::Threshold(m) => anyhow::anyhow!(m),
            super::build::BuildFailure::Other(e) => e,
        })?;
    }
    if !demo.tokens.exists() {
        let text = format!(
            "# healthcode demo credentials: ROLE NAME TOKEN\nquery demo-app {}\nadmin demo-operator {}\n",
            new_secret().map_err(anyhow::Error::msg)?,
            new_secret().map_err(anyhow::Error::msg)?
        );
        write_private(&demo.tokens, &text)?;
        tracing::info!(
            tokens = %demo.tokens.display(),
            "wrote demo credentials to {}",
            demo.tokens.display()
        );
    }
    Ok(demo)
}

/// Writes a file readable by its owner only, atomically.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(())
}

/// The first token of `role` in a tokens file.
pub fn first_token(path: &Path, role: &str) -> anyhow::Result<String> {
    healthcode::serve::auth::first_token(path, role).map_err(anyhow::Error::msg)
}

/// A kind of answer worth showing.
type Wanted = Box<dyn Fn(&healthcode::domain::Code) -> bool>;

/// A few document numbers from the demo feeds with telling answers: (id, what it shows).
pub fn examples(demo: &Demo, state: &State) -> Vec<(String, &'static str)> {
    let Ok(text) = std::fs::File::open(demo.feeds.join("bindings.csv")) else {
        return Vec::new();
    };
    let snap = state.current();
    let day = state.today();
    let mut wanted: Vec<(&'static str, Wanted)> = vec![
        (
            "yellow: stayed in a risk area",
            Box::new(|c| {
                c.color == Color::Yellow
                    && c.findings.iter().any(|f| f.reason == Reason::InRiskArea)
            }),
        ),
        (
            "green with a popup: city-level telecom stay in a city with a risk county (no misfire)",
            Box::new(|c| {
                c.travel_allowed
                    && c.findings
                        .iter()
                        .any(|f| f.reason == Reason::ItineraryImprecise)
            }),
        ),
        (
            "green: no anomaly",
            Box::new(|c| c.color == Color::Green && c.findings.is_empty()),
        ),
    ];
    let mut found = Vec::new();
    let reader = std::io::BufRead::lines(std::io::BufReader::new(text));
    for line in reader.skip(1).take(200_000).map_while(Result::ok) {
        let Some(id) = line.split(',').next() else {
            continue;
        };
        let Ok((code, true)) = healthcode::serve::answer::code_for(state, &snap, id, day) else {
            continue;
        };
        if let Some(i) = wanted.iter().position(|(_, f)| f(&code)) {
            found.push((id.to_string(), wanted.remove(i).0));
        }
        if wanted.is_empty() {
            break;
        }
    }
    found
}
