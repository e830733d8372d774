//! `healthcode verify FILE`: the full check a server runs before serving an index (open: every
//! checksum and the layout; verify: every record and bitmap decoded), as a one-line verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use healthcode::index::IndexError;
use healthcode::key::Key;
use healthcode::serve::LoadError;
use healthcode::serve::state::open_index_telling_pages;

/// Arguments of `healthcode verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The index file to check.
    file: PathBuf,
    /// Secret pseudonymisation key the index was built with (default: `key` in the healthcode
    /// home; never created by `verify`).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

/// Runs `healthcode verify`: exit 0 and an `OK` line when the file would be served, exit 1 and
/// the failed check (section and what) when it would be refused.
pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = match &args.key_file {
        Some(p) => Key::load(p)?,
        None => {
            let p = Key::home_dir()?.join("key");
            anyhow::ensure!(
                p.exists(),
                "no key at {}: pass the key the index was built with as --key-file",
                p.display()
            );
            Key::load(&p)?
        }
    };
    let started = Instant::now();
    match open_index_telling_pages(&args.file, &key) {
        Ok((index, pages)) => {
            println!(
                "OK {}: {} persons, data as of {}, {} bytes, build id {:016x}, verified in {:.2?}{}",
                args.file.display(),
                index.persons(),
                index.data_as_of(),
                index.len(),
                index.build_id(),
                started.elapsed(),
                if pages.reread.is_some() {
                    " (twice: its cached pages were 4 KiB ones, so it was read again, as a server \
                     does, to be mapped in 2 MiB pages)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(LoadError::Invalid { path, cause }) => {
            eprintln!("{}", refusal(&path, &cause));
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).with_context(|| format!("verifying {}", args.file.display())),
    }
}

/// The verdict on an index that fails a check: where, what, and what to do.
fn refusal(path: &Path, e: &IndexError) -> String {
    const DAMAGED: &str =
        "the file is damaged or incomplete: rebuild it or copy it again from its source";
    match e {
        IndexError::Corrupted { section, what } => {
            format!(
                "FAILED {}: section {section}: {what}; {DAMAGED}",
                path.display()
            )
        }
        IndexError::Magic | IndexError::Length { .. } => {
            format!("FAILED {}: {e}; {DAMAGED}", path.display())
        }
        // These say what to do themselves.
        _ => format!("FAILED {}: {e}", path.display()),
    }
}
