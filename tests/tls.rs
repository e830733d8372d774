//! TLS and mutual TLS: certificates made here (a CA, a server certificate for localhost and
//! 127.0.0.1, client certificates from that CA and from another), servers in this process and
//! the real binary; clients that trust the CA get answers, the others are refused, and bad
//! flags or files are reported by name.

mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use healthcode::domain::{Day, Policy};
use healthcode::proto::{self, health_code_client::HealthCodeClient};
use healthcode::serve::{self, Options, ServerTls, State};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::sync::oneshot;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use util::process::{DataSet, s};
use util::{QUERY_TOKEN, id};

/// A CA: its certificate (PEM) and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names` and its key, both PEM.
    fn sign(&self, names: &[&str], client: bool) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Every file a test needs, written into one temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    stranger_cert: PathBuf,
    stranger_key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("healthcode test CA");
        let other = Ca::new("another CA");
        let (server_cert, server_key) = ca.sign(&["localhost", "127.0.0.1"], false);
        let (client_cert, client_key) = ca.sign(&["ops-client"], true);
        let (stranger_cert, stranger_key) = other.sign(&["ops-client"], true);
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        Pki {
            ca: write("ca.pem", &ca.pem),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.pem", &stranger_cert),
            stranger_key: write("stranger.key", &stranger_key),
            dir,
        }
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    /// A client configuration trusting the CA, with the identity of `cert`/`key` if given.
    fn client(&self, identity: Option<(&Path, &Path)>) -> ClientTlsConfig {
        let mut c =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(Pki::read(&self.ca)));
        if let Some((cert, key)) = identity {
            c = c.identity(Identity::from_pem(Pki::read(cert), Pki::read(key)));
        }
        c
    }
}

/// A server in this process over TLS; stops when the sender is dropped.
async fn tls_server(tls: ServerTls) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let path = util::write_index(dir.path(), &[], &[], Day::parse("2022-05-10").ok());
    let index = serve::open_index(&path, &util::key()).unwrap();
    let state = Arc::new(State::new(
        index,
        path,
        util::key(),
        Policy::PrecisionAware,
        Day::parse("2022-05-10").ok(),
    ));
    let (listener, addr) = serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let options = Options {
        tls: Some(tls),
        ..Options::default()
    };
    tokio::spawn(async move {
        let _dir = dir;
        serve::serve_with(
            state,
            util::tokens(),
            listener,
            async {
                let _ = rx.await;
            },
            options,
        )
        .await
        .expect("the server stops cleanly")
    });
    (addr, tx)
}

/// One lookup over `endpoint` with the query token: the answer, or why it failed.
async fn lookup(endpoint: Endpoint) -> Result<proto::CodeResponse, String> {
    lookup_with(endpoint, Some(QUERY_TOKEN)).await
}

/// One lookup over `endpoint` sending `token`.
async fn lookup_with(
    endpoint: Endpoint,
    token: Option<&str>,
) -> Result<proto::CodeResponse, String> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let mut client = HealthCodeClient::new(channel);
    let mut req = tonic::Request::new(proto::CodeRequest {
        id_number: id(7),
        as_of: String::new(),
    });
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    client
        .get_code(req)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("call: {s:?}"))
}

fn https(addr: std::net::SocketAddr, tls: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
}

#[tokio::test]
async fn a_client_trusting_the_ca_gets_answers_and_a_plaintext_client_fails() {
    let pki = Pki::new();
    let tls = ServerTls::from_files(Some(&pki.server_cert), Some(&pki.server_key), None)
        .unwrap()
        .expect("TLS is on");
    let (addr, _stop) = tls_server(tls).await;

    let answer = lookup(https(addr, pki.client(None))).await.unwrap();
    assert_eq!(answer.as_of, "2022-05-10");
    assert_eq!(answer.color, proto::Color::Green as i32);

    // Tokens still apply on top of TLS.
    let anonymous = lookup_with(https(addr, pki.client(None)), None)
        .await
        .expect_err("a TLS client without a token is refused");
    assert!(anonymous.contains("Unauthenticated"), "{anonymous}");

    // The certificate names localhost too.
    let by_name = Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(pki.client(None))
        .unwrap();
    lookup(by_name).await.unwrap();

    let plain = Endpoint::from_shared(format!("http://{addr}")).unwrap();
    let err = lookup(plain)
        .await
        .expect_err("a plaintext client gets no answer");
    assert!(!err.contains("Unauthenticated"), "{err}");

    // A client that trusts another CA refuses the server.
    let stranger_ca = Ca::new("not the server's CA").pem;
    let wrong_trust = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(stranger_ca));
    lookup(https(addr, wrong_trust))
        .await
        .expect_err("a client that does not trust the server's CA refuses it");
}

#[tokio::test]
async fn mutual_tls_answers_only_clients_with_a_certificate_from_the_client_ca() {
    let pki = Pki::new();
    let tls = ServerTls::from_files(Some(&pki.server_cert), Some(&pki.server_key), Some(&pki.ca))
        .unwrap()
        .expect("TLS is on");
    assert!(
        tls.describe().starts_with("mutual TLS on"),
        "{}",
        tls.describe()
    );
    let (addr, _stop) = tls_server(tls).await;

    let good = lookup(https(
        addr,
        pki.client(Some((&pki.client_cert, &pki.client_key))),
    ))
    .await
    .unwrap();
    assert_eq!(good.as_of, "2022-05-10");

    let none = lookup(https(addr, pki.client(None))).await;
    assert!(none.is_err(), "a client without a certificate was answered");
    let stranger = lookup(https(
        addr,
        pki.client(Some((&pki.stranger_cert, &pki.stranger_key))),
    ))
    .await;
    assert!(
        stranger.is_err(),
        "a client with a certificate from another CA was answered"
    );
    let plain = lookup(Endpoint::from_shared(format!("http://{addr}")).unwrap()).await;
    assert!(plain.is_err(), "a plaintext client was answered");
    drop(pki.dir);
}

#[test]
fn bad_tls_flags_and_files_are_reported_by_name() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let missing = dir.join("missing.pem");
    let garbled = dir.join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nthis is not base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "just some text\n").unwrap();
    let home = dir.join("home");

    let serve = |args: &[&str]| {
        let mut a = vec!["serve", "--insecure-no-auth"];
        a.extend_from_slice(args);
        util::healthcode_at(&home, &a)
    };
    let cases: Vec<(Vec<&str>, Vec<String>)> = vec![
        (
            vec!["--tls-cert", s(&pki.server_cert)],
            vec!["--tls-cert needs --tls-key".into()],
        ),
        (
            vec!["--tls-key", s(&pki.server_key)],
            vec!["--tls-key needs --tls-cert".into()],
        ),
        (
            vec!["--client-ca", s(&pki.ca)],
            vec!["--client-ca needs TLS".into()],
        ),
        (
            vec!["--tls-cert", s(&missing), "--tls-key", s(&pki.server_key)],
            vec![
                format!("--tls-cert {}", missing.display()),
                "cannot be read".into(),
            ],
        ),
        (
            vec!["--tls-cert", s(&garbled), "--tls-key", s(&pki.server_key)],
            vec![
                format!("--tls-cert {}", garbled.display()),
                "not a valid PEM certificate".into(),
            ],
        ),
        (
            vec!["--tls-cert", s(&pki.server_cert), "--tls-key", s(&empty)],
            vec![
                format!("--tls-key {}", empty.display()),
                "no PEM private key".into(),
            ],
        ),
        (
            // The files swapped: no certificate in the key file.
            vec![
                "--tls-cert",
                s(&pki.server_key),
                "--tls-key",
                s(&pki.server_cert),
            ],
            vec![
                format!("--tls-cert {}", pki.server_key.display()),
                "no PEM certificate".into(),
            ],
        ),
        (
            // A key of another certificate.
            vec![
                "--tls-cert",
                s(&pki.server_cert),
                "--tls-key",
                s(&pki.client_key),
            ],
            vec![format!(
                "--tls-cert {} with --tls-key {}",
                pki.server_cert.display(),
                pki.client_key.display()
            )],
        ),
        (
            vec![
                "--tls-cert",
                s(&pki.server_cert),
                "--tls-key",
                s(&pki.server_key),
                "--client-ca",
                s(&empty),
            ],
            vec![
                format!("--client-ca {}", empty.display()),
                "no PEM certificate".into(),
            ],
        ),
    ];
    for (args, wanted) in cases {
        let run = serve(&args);
        assert_eq!(run.code, 2, "serve {args:?} should fail: {}", run.stderr);
        for w in wanted {
            assert!(
                run.stderr.contains(&w),
                "serve {args:?}: {w:?} not in {:?}",
                run.stderr
            );
        }
    }

    let query = |args: &[&str]| {
        let mut a = vec!["query", "11010519900101007X", "--token", "t"];
        a.extend_from_slice(args);
        util::healthcode_at(&home, &a)
    };
    let cases: Vec<(Vec<&str>, Vec<String>)> = vec![
        (
            vec!["--server", "https://127.0.0.1:1"],
            vec!["https needs --tls-ca".into()],
        ),
        (
            vec![
                "--tls-cert",
                s(&pki.client_cert),
                "--tls-key",
                s(&pki.client_key),
            ],
            vec!["TLS needs --tls-ca".into()],
        ),
        (
            vec!["--tls-ca", s(&pki.ca), "--tls-cert", s(&pki.client_cert)],
            vec!["--tls-cert needs --tls-key".into()],
        ),
        (
            vec!["--tls-ca", s(&missing)],
            vec![
                format!("--tls-ca {}", missing.display()),
                "cannot be read".into(),
            ],
        ),
        (
            vec!["--tls-ca", s(&garbled)],
            vec![
                format!("--tls-ca {}", garbled.display()),
                "not a valid PEM".into(),
            ],
        ),
        (
            vec!["--tls-ca", s(&pki.ca), "--server", "http://127.0.0.1:1"],
            vec!["use https://".into()],
        ),
    ];
    for (args, wanted) in cases {
        let run = query(&args);
        assert_eq!(run.code, 2, "query {args:?} should fail: {}", run.stderr);
        for w in wanted {
            assert!(
                run.stderr.contains(&w),
                "query {args:?}: {w:?} not in {:?}",
                run.stderr
            );
        }
    }
}

#[test]
fn the_binary_serves_mutual_tls_to_its_own_clients() {
    let pki = Pki::new();
    let data = DataSet::generate(300);
    let server = data.serve(&[
        "--tls-cert",
        s(&pki.server_cert),
        "--tls-key",
        s(&pki.server_key),
        "--client-ca",
        s(&pki.ca),
    ]);
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("mutual TLS on") && l.contains(s(&pki.ca))),
        "the server says mutual TLS is on: {:?}",
        server.log()
    );
    // Runs `healthcode ARGS EXTRA…`: exit code, stdout, stderr.
    let run = |args: &[&str], extra: &[&str]| {
        let out = data.command().args(args).args(extra).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let query = |extra: &[&str]| run(&["query", &id(3), "--tokens", s(&data.tokens)], extra);
    let https = format!("https://{}", server.addr);
    // The client's side of mutual TLS: the CA it trusts and its own certificate.
    let identity = [
        "--tls-ca",
        s(&pki.ca),
        "--tls-cert",
        s(&pki.client_cert),
        "--tls-key",
        s(&pki.client_key),
    ];
    let (code, stdout, stderr) = query(&[&["--server", &https][..], &identity].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("colour:"), "{stdout}");

    // A bare address with --tls-ca means https too.
    let (code, _, stderr) = query(&[&["--server", &server.addr][..], &identity].concat());
    assert_eq!(code, Some(0), "{stderr}");

    for (what, extra) in [
        (
            "no client certificate",
            vec!["--server", &https, "--tls-ca", s(&pki.ca)],
        ),
        (
            "a certificate from another CA",
            vec![
                "--server",
                &https,
                "--tls-ca",
                s(&pki.ca),
                "--tls-cert",
                s(&pki.stranger_cert),
                "--tls-key",
                s(&pki.stranger_key),
            ],
        ),
        ("plaintext", vec!["--server", &server.addr]),
    ] {
        let (code, stdout, stderr) = query(&extra);
        assert_ne!(code, Some(0), "{what}: answered: {stdout}");
        assert!(!stdout.contains("colour:"), "{what}: answered: {stdout}");
        assert!(!stderr.is_empty(), "{what}: no reason given");
    }

    // `healthcode health` is the probe a kubelet cannot make itself: through mutual TLS with
    // the client's certificate it reports SERVING (exit 0), and fails (exit 1) otherwise.
    let health = |extra: &[&str]| run(&["health", "--server", &https], extra);
    for service in ["", "healthcode.v1.HealthCode", "healthcode.v1.Admin"] {
        let (code, stdout, stderr) = health(&[&identity[..], &["--service", service]].concat());
        assert_eq!(code, Some(0), "health of {service:?}: {stderr}");
        assert_eq!(stdout.trim(), "SERVING", "health of {service:?}");
    }
    let (code, _, stderr) = health(&[&identity[..], &["--service", "no.such.Service"]].concat());
    assert_eq!(code, Some(1), "an unknown service is not healthy");
    assert!(stderr.contains("NotFound"), "{stderr}");
    for (what, extra) in [
        (
            "no client certificate",
            vec!["--server", &https, "--tls-ca", s(&pki.ca)],
        ),
        ("plaintext", vec!["--server", &server.addr]),
    ] {
        let (code, stdout, stderr) = run(&["health"], &extra);
        assert_eq!(code, Some(1), "{what}: {stdout}");
        assert!(!stdout.contains("SERVING"), "{what}: {stdout}");
        assert!(stderr.contains("health of"), "{what}: {stderr}");
    }
}
