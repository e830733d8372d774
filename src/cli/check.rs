//! `healthcode check` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `healthcode check`.
#[derive(clap::Args)]
pub struct CheckArgs {}

/// Runs `healthcode check`.
pub fn run(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healthcode check is not implemented yet")
}
