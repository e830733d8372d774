//! `healthcode audit verify DIR` and `healthcode audit show DIR`: check a state directory's
//! hash-chained audit log (and that every live write has its record), or print it readably.

use std::path::PathBuf;
use std::process::ExitCode;

use healthcode::audit::{AUDIT_FILE, AuditError, check, verify_dir};

/// Arguments of `healthcode audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Verify the chain of DIR/audit.log and that every live write in DIR/overlay.log has its
    /// record; exit 1 naming the first bad record, 3 when only the last record is incomplete.
    Verify {
        /// The server's state directory.
        dir: PathBuf,
        /// A head hash printed by an earlier verify and kept elsewhere: it must still be in the
        /// chain (a log rewritten from an earlier record, or cut back before it, fails).
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
    /// Print the records of DIR/audit.log, one a line, up to the first bad one.
    Show {
        /// The server's state directory.
        dir: PathBuf,
    },
}

/// Runs `healthcode audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify { dir, head } => verify(&dir, head.as_deref()),
        AuditCommand::Show { dir } => show(&dir),
    }
}

fn verify(dir: &std::path::Path, head: Option<&str>) -> anyhow::Result<ExitCode> {
    match verify_dir(dir) {
        Ok(v) if head.is_some_and(|h| !v.records.iter().any(|r| r.hash == h.trim())) => {
            println!(
                "FAILED: {}: the head {} noted earlier is not in the chain: the log was rewritten from an earlier record or cut back before it",
                dir.join(AUDIT_FILE).display(),
                head.unwrap_or_default().trim()
            );
            Ok(ExitCode::from(1))
        }
        Ok(v) => {
            let (first, last) = (v.records.first(), v.records.last());
            println!(
                "{}: OK, {} records from {} to {}; {} live writes match their records{}; head {}",
                dir.join(AUDIT_FILE).display(),
                v.records.len(),
                first.map_or("", |r| r.time.as_str()),
                last.map_or("", |r| r.time.as_str()),
                v.writes_checked,
                if v.predating > 0 {
                    format!(" (sequences 1..={} predate the audit log)", v.predating)
                } else {
                    String::new()
                },
                last.map_or("", |r| r.hash.as_str()),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ AuditError::Torn { .. }) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e @ AuditError::Io { .. }) => Err(anyhow::anyhow!(
            "{e}; is {} a server's state directory (--state-dir)?",
            dir.display()
        )),
        Err(e @ AuditError::Overlay(_)) => Err(e.into()),
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn show(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let path = dir.join(AUDIT_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; is {} a state directory?",
            path.display(),
            dir.display()
        )
    })?;
    // Print what verifies; a bad record is named after the good ones.
    let (records, problem) = match check(&path, &bytes) {
        Ok(c) => {
            let torn = c.torn.map(|(line, offset, bytes)| AuditError::Torn {
                path: path.clone(),
                line,
                offset,
                bytes,
            });
            (c.records, torn)
        }
        Err(e) => {
            let good = match &e {
                AuditError::Broken { offset, .. } => {
                    check(&path, &bytes[..*offset as usize]).map_or(Vec::new(), |c| c.records)
                }
                _ => Vec::new(),
            };
            (good, Some(e))
        }
    };
    for r in &records {
        println!("{}", r.readable());
    }
    match problem {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
