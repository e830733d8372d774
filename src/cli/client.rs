//! What the client subcommands share: the server address, the bearer token (flag, tokens file,
//! environment or the demo's tokens file) and the connection.

use std::path::PathBuf;

use anyhow::Context;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use super::demo;

/// Connection flags of the client subcommands.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// The server.
    #[arg(long, global = true, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Bearer token (default: $HEALTHCODE_TOKEN, else the demo's token of the role needed).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Read the token from this tokens file (its first token of the role needed).
    #[arg(long, global = true)]
    pub tokens: Option<PathBuf>,
}

impl ClientArgs {
    /// The token to send for an RPC that needs `role` (`query` or `admin`), if any.
    pub fn token(&self, role: &str) -> anyhow::Result<Option<String>> {
        Ok(match (&self.token, &self.tokens) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(p)) => Some(demo::first_token(p, role)?),
            (None, None) => std::env::var("HEALTHCODE_TOKEN")
                .ok()
                .or_else(|| demo::first_token(&demo::dir().ok()?.join("tokens"), role).ok()),
        })
    }

    /// Connects to the server.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        let server = if self.server.contains("://") {
            self.server.clone()
        } else {
            format!("http://{}", self.server)
        };
        tonic::transport::Endpoint::from_shared(server.clone())?
            .connect()
            .await
            .with_context(|| format!("connecting to {server}"))
    }
}

/// A request carrying `token` as its bearer credential.
pub fn request<T>(msg: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        let v: MetadataValue<_> = format!("Bearer {t}")
            .parse()
            .context("token is not valid header text")?;
        req.metadata_mut().insert("authorization", v);
    }
    Ok(req)
}

/// Prints a failed call the way the subcommands report it.
pub fn report(s: &tonic::Status) {
    eprintln!("healthcode: {:?}: {}", s.code(), s.message());
}
