//! TLS and mutual TLS for the server and its clients: certificates and keys read from PEM files
//! and checked here, so that a missing, unreadable or garbled file is reported by name (and by
//! the flag that named it) before anything listens or connects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// How long a connecting client may take over its TLS handshake before the server drops it.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file named by a flag is unreadable or holds no usable PEM item.
    #[error("{flag} {}: {why}", path.display())]
    File {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        why: String,
    },
    /// The flags do not go together.
    #[error("{0}")]
    Flags(String),
    /// The files parse but do not make a usable configuration (say, a key of another
    /// certificate).
    #[error("{what}: {why}")]
    Config {
        /// The files concerned.
        what: String,
        /// The TLS library's reason.
        why: String,
    },
}

/// The server's TLS setting: its identity and, for mutual TLS, the CA its clients' certificates
/// must be signed by.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The configuration to hand to the server.
    pub config: ServerTlsConfig,
    /// The certificate file.
    pub cert: PathBuf,
    /// The client CA file, when clients must present a certificate.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// Reads `--tls-cert`, `--tls-key` and `--client-ca`: `None` when none is given (plaintext);
    /// an error naming the flag and file when one is missing, unreadable or garbled.
    pub fn from_files(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<ServerTls>, TlsError> {
        let (cert, key) = match (cert, key) {
            (None, None) => {
                return match client_ca {
                    Some(_) => Err(TlsError::Flags(
                        "--client-ca needs TLS: pass --tls-cert FILE and --tls-key FILE too".into(),
                    )),
                    None => Ok(None),
                };
            }
            (Some(_), None) => {
                return Err(TlsError::Flags(
                    "--tls-cert needs --tls-key FILE (the certificate's private key, PEM)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(TlsError::Flags(
                    "--tls-key needs --tls-cert FILE (the server's certificate chain, PEM)".into(),
                ));
            }
            (Some(c), Some(k)) => (c, k),
        };
        let identity = identity("--tls-cert", cert, "--tls-key", key)?;
        let mut config = ServerTlsConfig::new()
            .identity(identity)
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = client_ca {
            config = config.client_ca_root(certificate("--client-ca", ca)?);
        }
        // Build the acceptor once now: a key that does not match the certificate, or a CA the
        // TLS library refuses, is reported before the server starts.
        tonic::transport::Server::builder()
            .tls_config(config.clone())
            .map_err(|e| TlsError::Config {
                what: match client_ca {
                    Some(ca) => format!(
                        "--tls-cert {}, --tls-key {}, --client-ca {}",
                        cert.display(),
                        key.display(),
                        ca.display()
                    ),
                    None => format!(
                        "--tls-cert {} with --tls-key {}",
                        cert.display(),
                        key.display()
                    ),
                },
                why: chain(&e),
            })?;
        Ok(Some(ServerTls {
            config,
            cert: cert.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
        }))
    }

    /// One line saying what clients must do.
    pub fn describe(&self) -> String {
        match &self.client_ca {
            Some(ca) => format!(
                "mutual TLS on: certificate {}; clients must present a certificate signed by {}",
                self.cert.display(),
                ca.display()
            ),
            None => format!(
                "TLS on: certificate {}; clients need not present one",
                self.cert.display()
            ),
        }
    }
}

/// The client's TLS setting from `--tls-ca`, `--tls-cert` and `--tls-key`: `None` when none is
/// given. A client identity (mutual TLS) needs both its certificate and its key.
pub fn client_config(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<ClientTlsConfig>, TlsError> {
    if ca.is_none() && cert.is_none() && key.is_none() {
        return Ok(None);
    }
    let mut config = ClientTlsConfig::new().timeout(HANDSHAKE_TIMEOUT);
    match ca {
        Some(ca) => config = config.ca_certificate(certificate("--tls-ca", ca)?),
        None => {
            return Err(TlsError::Flags(
                "TLS needs --tls-ca FILE: the CA certificate (PEM) that signed the server's certificate"
                    .into(),
            ));
        }
    }
    match (cert, key) {
        (None, None) => {}
        (Some(c), Some(k)) => config = config.identity(identity("--tls-cert", c, "--tls-key", k)?),
        (Some(_), None) => {
            return Err(TlsError::Flags(
                "--tls-cert needs --tls-key FILE (the client certificate's private key, PEM)"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(TlsError::Flags(
                "--tls-key needs --tls-cert FILE (the client's certificate, PEM)".into(),
            ));
        }
    }
    Ok(Some(config))
}

/// The certificates of a PEM file (at least one).
fn certificate(flag: &'static str, path: &Path) -> Result<Certificate, TlsError> {
    certificate_pem(flag, path).map(Certificate::from_pem)
}

/// The text of a PEM file of certificates, checked to hold at least one.
fn certificate_pem(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| garbled(flag, path, "certificate", &e))?;
    if certs.is_empty() {
        return Err(TlsError::File {
            flag,
            path: path.to_path_buf(),
            why: "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        });
    }
    Ok(bytes)
}

/// A certificate chain and its private key.
fn identity(
    cert_flag: &'static str,
    cert: &Path,
    key_flag: &'static str,
    key: &Path,
) -> Result<Identity, TlsError> {
    let chain = certificate_pem(cert_flag, cert)?;
    let bytes = read(key_flag, key)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::File {
            flag: key_flag,
            path: key.to_path_buf(),
            why: "no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".into(),
        },
        e => garbled(key_flag, key, "private key", &e),
    })?;
    Ok(Identity::from_pem(chain, bytes))
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        flag,
        path: path.to_path_buf(),
        why: format!("cannot be read: {e}"),
    })
}

fn garbled(flag: &'static str, path: &Path, what: &str, e: &pem::Error) -> TlsError {
    TlsError::File {
        flag,
        path: path.to_path_buf(),
        why: format!("not a valid PEM {what} file ({e})"),
    }
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
