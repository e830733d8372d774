//! `healthcode explain` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `healthcode explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {}

/// Runs `healthcode explain`.
pub fn run(_args: ExplainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healthcode explain is not implemented yet")
}
