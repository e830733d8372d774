//! The admin client subcommands against a running server (admin token): `reload FILE` and
//! `rebuild DIR` (the rebuild trigger) and `live …` (durable live writes).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use healthcode::proto::{self, admin_client::AdminClient};
use tokio_stream::StreamExt;

use super::client::{ClientArgs, report, request};

/// Arguments of `healthcode reload`.
#[derive(clap::Args)]
pub struct ReloadArgs {
    /// The index file to serve (a path as the server sees it; made absolute when it exists here).
    file: PathBuf,
    /// Serve it even if its data date is older than the serving index's.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Arguments of `healthcode rebuild`.
#[derive(clap::Args)]
pub struct RebuildArgs {
    /// The feed directory to build from (a path as the server sees it; made absolute when it
    /// exists here).
    feeds: PathBuf,
    /// Serve the result even if its data date is older than the serving index's.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// The path to send: absolute when it exists on this machine, as given otherwise.
fn server_path(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs `healthcode reload`.
pub fn reload(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let token = args.client.token("admin")?;
    let path = server_path(&args.file);
    let res = runtime()?.block_on(async {
        let mut admin = AdminClient::new(args.client.connect().await?);
        let req = request(
            proto::ReloadRequest {
                path: path.clone(),
                force: args.force,
            },
            token.as_deref(),
        )?;
        anyhow::Ok(admin.reload(req).await)
    })?;
    match res {
        Ok(r) => {
            eprintln!(
                "healthcode: {path} is serving as generation {}",
                r.into_inner().generation
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(s) => {
            report(&s);
            Ok(ExitCode::from(1))
        }
    }
}

/// Runs `healthcode rebuild`: triggers the build and prints its progress until the swap.
pub fn rebuild(args: RebuildArgs) -> anyhow::Result<ExitCode> {
    let token = args.client.token("admin")?;
    let feeds = server_path(&args.feeds);
    runtime()?.block_on(async {
        let mut admin = AdminClient::new(args.client.connect().await?);
        let req = request(
            proto::RebuildRequest {
                feeds: feeds.clone(),
                force: args.force,
            },
            token.as_deref(),
        )?;
        let mut stream = match admin.rebuild(req).await {
            Ok(s) => s.into_inner(),
            Err(s) => {
                report(&s);
                return Ok(ExitCode::from(1));
            }
        };
        let mut generation = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(p) => {
                    if p.total > 0 {
                        eprintln!("healthcode: [{}/{}] {}", p.done, p.total, p.message);
                    } else {
                        eprintln!("healthcode: {}", p.message);
                    }
                    generation = generation.max(p.generation);
                }
                Err(s) => {
                    report(&s);
                    return Ok(ExitCode::from(1));
                }
            }
        }
        if generation == 0 {
            eprintln!("healthcode: the server ended the rebuild without swapping");
            return Ok(ExitCode::from(1));
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Arguments of `healthcode live`.
#[derive(clap::Args)]
pub struct LiveArgs {
    #[command(subcommand)]
    write: LiveWrite,
    /// Who makes the write (recorded in the live-update log).
    #[arg(long, global = true, default_value = "")]
    operator: String,
    /// Why, or the ticket it answers (recorded in the live-update log).
    #[arg(long, global = true, default_value = "")]
    reason: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// One live write.
#[derive(clap::Subcommand)]
enum LiveWrite {
    /// Designate a risk area (replacing any earlier designation of that area code).
    SetRiskArea {
        /// The area's region code.
        area: String,
        /// medium or high.
        #[arg(long)]
        level: String,
        /// First active day (default: the server's today).
        #[arg(long, default_value = "")]
        from: String,
        /// Last active day (default: open-ended).
        #[arg(long, default_value = "")]
        to: String,
    },
    /// End a risk area's designation after a day.
    LiftRiskArea {
        /// The area's region code.
        area: String,
        /// Its last active day (default: the server's today).
        #[arg(long, default_value = "")]
        to: String,
    },
    /// Record a hotline verification of a person.
    Verification {
        /// The document number.
        id: String,
        /// The day of the verification (default: the server's today).
        #[arg(long, default_value = "")]
        on: String,
        /// The region it clears (default: all).
        #[arg(long, default_value = "")]
        scope: String,
    },
    /// Record a person's registration with a community.
    Registration {
        /// The document number.
        id: String,
        /// The day of the registration (default: the server's today).
        #[arg(long, default_value = "")]
        on: String,
        /// The community.
        #[arg(long, default_value = "")]
        community: String,
    },
}

/// Runs `healthcode live …`: one durable live write; prints its sequence number.
pub fn live(args: LiveArgs) -> anyhow::Result<ExitCode> {
    let token = args.client.token("admin")?;
    let (operator, reason) = (args.operator.clone(), args.reason.clone());
    let res = runtime()?.block_on(async {
        let mut admin = AdminClient::new(args.client.connect().await?);
        let t = token.as_deref();
        anyhow::Ok(match args.write {
            LiveWrite::SetRiskArea {
                area,
                level,
                from,
                to,
            } => {
                let level = match level.as_str() {
                    "medium" => proto::RiskLevel::Medium,
                    "high" => proto::RiskLevel::High,
                    other => anyhow::bail!("--level {other:?}: expected medium or high"),
                };
                let m = proto::SetRiskAreaRequest {
                    area,
                    level: level as i32,
                    from,
                    to,
                    operator,
                    reason,
                };
                admin.set_risk_area(request(m, t)?).await
            }
            LiveWrite::LiftRiskArea { area, to } => {
                let m = proto::LiftRiskAreaRequest {
                    area,
                    to,
                    operator,
                    reason,
                };
                admin.lift_risk_area(request(m, t)?).await
            }
            LiveWrite::Verification { id, on, scope } => {
                let m = proto::RecordVerificationRequest {
                    id_number: id,
                    verified_on: on,
                    scope,
                    operator,
                    ticket: reason,
                };
                admin.record_verification(request(m, t)?).await
            }
            LiveWrite::Registration { id, on, community } => {
                let m = proto::RecordRegistrationRequest {
                    id_number: id,
                    registered_on: on,
                    community,
                    operator,
                    reason,
                };
                admin.record_registration(request(m, t)?).await
            }
        })
    })?;
    match res {
        Ok(ack) => {
            let a = ack.into_inner();
            println!("sequence {}", a.sequence);
            if a.affected_definite + a.affected_possible > 0 {
                println!(
                    "people with stays there in those days: {} inside the area's risk unit, {} known only more coarsely",
                    a.affected_definite, a.affected_possible
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(s) => {
            report(&s);
            Ok(ExitCode::from(1))
        }
    }
}
