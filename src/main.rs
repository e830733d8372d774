//! The `healthcode` binary: only the command line plus glue; the work lives in the library.

mod cli;

/// mimalloc: answers are built from many small strings, and glibc's allocator spent a quarter of
/// the server's time in malloc and free.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// healthcode: the lookup server behind a city's health-code app.
#[derive(Parser)]
#[command(name = "healthcode", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate synthetic feeds over the real region table, plus truth.csv.
    Gen(cli::generate::GenArgs),
    /// Validate a feed directory: the rejects report and counts, nothing built.
    Check(cli::check::CheckArgs),
    /// Build an index file from a feed directory (atomically).
    Build(cli::build::BuildArgs),
    /// Check an index file completely, as a server does before serving it.
    Verify(cli::verify::VerifyArgs),
    /// Serve an index over gRPC (--demo: build and serve a demo data set).
    Serve(cli::serve::ServeArgs),
    /// Look one person up on a running server.
    Query(cli::query::QueryArgs),
    /// Check a running server's health (the standard gRPC health protocol): exit 0 when
    /// SERVING; over TLS and mutual TLS too, for probes.
    Health(cli::health::HealthArgs),
    /// Make a running server serve another index file (verified first; the old one keeps
    /// serving if it is refused).
    Reload(cli::admin::ReloadArgs),
    /// Make a running server build a new index from a feed directory and swap it in.
    Rebuild(cli::admin::RebuildArgs),
    /// Make a durable live write on a running server (risk areas, verifications,
    /// registrations).
    Live(cli::admin::LiveArgs),
    /// Evaluate one person straight from a feed directory (no index, no server).
    Explain(cli::explain::ExplainArgs),
    /// Measure misfires: both policies against the truth of a generated world.
    Eval(cli::eval::EvalArgs),
    /// Verify or print a state directory's hash-chained audit log of admin actions.
    Audit(cli::audit::AuditArgs),
}

fn main() -> std::process::ExitCode {
    // The matches are kept: `serve` asks them which values were given as flags.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Gen(a) => cli::generate::run(a),
        Command::Check(a) => cli::check::run(a),
        Command::Build(a) => cli::build::run(a),
        Command::Verify(a) => cli::verify::run(a),
        Command::Serve(a) => cli::serve::run(
            a,
            matches
                .subcommand_matches("serve")
                .expect("the serve subcommand was parsed"),
        ),
        Command::Query(a) => cli::query::run(a),
        Command::Health(a) => cli::health::run(a),
        Command::Reload(a) => cli::admin::reload(a),
        Command::Rebuild(a) => cli::admin::rebuild(a),
        Command::Live(a) => cli::admin::live(a),
        Command::Explain(a) => cli::explain::run(a),
        Command::Eval(a) => cli::eval::run(a),
        Command::Audit(a) => cli::audit::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("healthcode: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
