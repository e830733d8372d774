//! `healthcode health`: the standard gRPC health check of a running server, exit 0 when it is
//! SERVING — for probes the kubelet's built-in gRPC probe cannot make (it speaks plaintext and
//! presents no client certificate), so a server on TLS or mutual TLS can be probed with `exec`.

use std::process::ExitCode;
use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::client::ClientArgs;
use super::serve::parse_duration;

/// Arguments of `healthcode health`.
#[derive(clap::Args)]
pub struct HealthArgs {
    /// The service to ask about, e.g. healthcode.v1.HealthCode (default: the server as a whole).
    #[arg(long, default_value = "")]
    service: String,
    /// Fail when the connection and the answer take longer than this (seconds, or a number with
    /// ms, s or m).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `healthcode health`: prints the status and exits 0 when it is SERVING, 1 when it is
/// anything else or the server does not answer in time.
pub fn run(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let what = if args.service.is_empty() {
        format!("{} (the server)", args.client.server)
    } else {
        format!("{} service {}", args.client.server, args.service)
    };
    let check = async {
        // Health needs no credential: no token is sent.
        let mut client = HealthClient::new(args.client.connect().await?);
        let request = HealthCheckRequest {
            service: args.service.clone(),
        };
        anyhow::Ok(client.check(request).await)
    };
    // The timer needs the runtime: it is made inside it.
    let answer = rt.block_on(async { tokio::time::timeout(args.timeout, check).await });
    let status = match answer {
        Err(_) => {
            eprintln!(
                "healthcode: health of {what}: no answer within {:?}",
                args.timeout
            );
            return Ok(ExitCode::from(1));
        }
        Ok(Err(e)) => {
            eprintln!("healthcode: health of {what}: {e:#}");
            return Ok(ExitCode::from(1));
        }
        Ok(Ok(Err(s))) => {
            eprintln!(
                "healthcode: health of {what}: {:?}: {}",
                s.code(),
                s.message()
            );
            return Ok(ExitCode::from(1));
        }
        Ok(Ok(Ok(r))) => r.into_inner().status(),
    };
    println!("{}", status.as_str_name());
    Ok(if status == ServingStatus::Serving {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
