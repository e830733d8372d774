//! `healthcode query ID`: one lookup against a running server, printed the way a person reads it.

use std::process::ExitCode;

use healthcode::proto::{self, health_code_client::HealthCodeClient};

use super::client::{ClientArgs, report, request};

/// Arguments of `healthcode query`.
#[derive(clap::Args)]
pub struct QueryArgs {
    /// The document number (18-character resident ID).
    id: String,
    /// Ask as of this day (YYYY-MM-DD) instead of the server's today.
    #[arg(long)]
    as_of: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `healthcode query`.
pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let token = args.client.token("query")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let resp = rt.block_on(async {
        let mut client = HealthCodeClient::new(args.client.connect().await?);
        let req = request(
            proto::CodeRequest {
                id_number: args.id.clone(),
                as_of: args.as_of.clone().unwrap_or_default(),
            },
            token.as_deref(),
        )?;
        anyhow::Ok(client.get_code(req).await)
    })?;
    match resp {
        Ok(r) => {
            print!("{}", render(&args.id, &r.into_inner()));
            Ok(ExitCode::SUCCESS)
        }
        Err(s) => {
            report(&s);
            Ok(ExitCode::from(1))
        }
    }
}

/// The human-readable form of an answer.
pub fn render(id: &str, r: &proto::CodeResponse) -> String {
    use std::fmt::Write;
    let color = match proto::Color::try_from(r.color).unwrap_or(proto::Color::Unspecified) {
        proto::Color::Green => "GREEN  (no anomaly found)",
        proto::Color::Yellow => "YELLOW (home quarantine)",
        proto::Color::Red => "RED    (central quarantine)",
        proto::Color::Unspecified => "unknown",
    };
    let mut s = String::new();
    // Masked even though the person asking typed it: this output ends up in tickets and chats.
    let masked = healthcode::domain::mask::id_text(id.trim());
    let _ = writeln!(
        s,
        "person:  {masked}{}",
        if r.known {
            ""
        } else {
            " (no record in any feed)"
        }
    );
    let _ = writeln!(
        s,
        "as of:   {} (index generation {}, data as of {})",
        r.as_of, r.index_generation, r.data_as_of
    );
    let _ = writeln!(s, "colour:  {color}");
    let _ = writeln!(
        s,
        "travel:  {}",
        if r.travel_allowed {
            "allowed"
        } else {
            "NOT allowed"
        }
    );
    if r.findings.is_empty() {
        let _ = writeln!(s, "findings: none");
    } else {
        let _ = writeln!(s, "findings (strongest first):");
    }
    for f in &r.findings {
        let reason = proto::Reason::try_from(f.reason)
            .map_or("UNKNOWN", |r| r.as_str_name())
            .trim_start_matches("REASON_");
        let mut line = format!("  - {reason}");
        if !f.region_code.is_empty() {
            let _ = write!(line, " in {} ({})", f.region_name, f.region_code);
        }
        if !f.risk_area_code.is_empty() {
            let _ = write!(line, ", risk area {}", f.risk_area_code);
        }
        let _ = write!(line, ", {}", f.day);
        if !f.phone_tail.is_empty() {
            let _ = write!(line, ", phone ending {}", f.phone_tail);
        }
        line.push_str(if f.blocks_travel {
            ", blocks travel"
        } else {
            ", popup"
        });
        let _ = writeln!(s, "{line}");
    }
    s
}
