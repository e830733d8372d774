//! What the client subcommands share: the server address, the bearer token (flag, tokens file,
//! environment or the demo's tokens file) and the connection, in plaintext or over TLS (with a
//! client certificate for mutual TLS).

use std::path::PathBuf;

use anyhow::{Context, bail};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use super::demo;

/// Connection flags of the client subcommands.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// The server (`https://HOST:PORT` for TLS; plain `HOST:PORT` means https with --tls-ca).
    #[arg(long, global = true, default_value = "127.0.0.1:50051")]
    pub server: String,
    /// Bearer token (default: $HEALTHCODE_TOKEN, else the demo's token of the role needed).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Read the token from this tokens file (its first token of the role needed).
    #[arg(long, global = true)]
    pub tokens: Option<PathBuf>,
    /// TLS: trust this CA certificate (PEM) to have signed the server's certificate.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Mutual TLS: this client's certificate (PEM; needs --tls-key and --tls-ca).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Mutual TLS: the private key of --tls-cert (PEM).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
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

    /// Connects to the server: over TLS with --tls-ca (or an `https://` address), in plaintext
    /// otherwise.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        let tls = healthcode::serve::tls::client_config(
            self.tls_ca.as_deref(),
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )?;
        let server = match (self.server.split_once("://"), &tls) {
            (Some(("http", _)), Some(_)) => bail!(
                "--server {}: TLS flags are given, so use https://",
                self.server
            ),
            (Some(("https", _)), None) => bail!(
                "--server {}: https needs --tls-ca FILE, the CA certificate (PEM) that signed the server's certificate",
                self.server
            ),
            (Some(_), _) => self.server.clone(),
            (None, Some(_)) => format!("https://{}", self.server),
            (None, None) => format!("http://{}", self.server),
        };
        let mut endpoint = tonic::transport::Endpoint::from_shared(server.clone())
            .with_context(|| format!("--server {server}"))?;
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .with_context(|| format!("TLS settings for {server}"))?;
        }
        endpoint
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
