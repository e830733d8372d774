//! `healthcode gen` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `healthcode gen`.
#[derive(clap::Args)]
pub struct GenArgs {}

/// Runs `healthcode gen`.
pub fn run(_args: GenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healthcode gen is not implemented yet")
}
