//! Helpers shared by the integration tests: an index file written into a temporary directory, the
//! real server started in-process on 127.0.0.1:0 and shut down through a oneshot channel, and
//! gRPC clients that send a bearer token.

#![allow(dead_code)]

pub mod feeds;
pub mod process;
pub mod world;
#[allow(unused_imports)]
pub use feeds::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use healthcode::domain::{Day, IdNumber, PersonRecords, Policy, RiskArea};
use healthcode::index::{BuildInput, build_bytes, write_atomic};
use healthcode::key::Key;
use healthcode::proto::admin_client::AdminClient;
use healthcode::proto::health_code_client::HealthCodeClient;
use healthcode::regions::RegionTable;
use healthcode::serve::{self, State, Tokens};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// The token of the `query` role in [`tokens`].
pub const QUERY_TOKEN: &str = "query-token-0123456789abcdef";
/// The token of the `admin` role in [`tokens`].
pub const ADMIN_TOKEN: &str = "admin-token-fedcba9876543210";

/// A tokens file with one query and one admin credential, as `serve --tokens` reads it.
pub fn tokens() -> Tokens {
    let text = format!("# test credentials\nquery app {QUERY_TOKEN}\nadmin ops {ADMIN_TOKEN}\n");
    Tokens::parse(&text, "test tokens").expect("the test tokens file parses")
}

/// The pseudonymisation key the test indexes are built and served with.
pub fn key() -> Key {
    Key::from_words(0x7e57_0001, 0x7e57_0002)
}

/// Builds an index of `people` and `areas` (region names from the bundled table) and writes it
/// atomically to `dir/index.hci`.
pub fn write_index(
    dir: &Path,
    people: &[(IdNumber, PersonRecords)],
    areas: &[RiskArea],
    data_as_of: Option<Day>,
) -> PathBuf {
    write_index_at_home(dir, people, areas, data_as_of, None)
}

/// [`write_index`] for a deployment whose home region is `home`, recorded in the index.
#[allow(dead_code)] // not every test binary that includes this module needs a home
pub fn write_index_at_home(
    dir: &Path,
    people: &[(IdNumber, PersonRecords)],
    areas: &[RiskArea],
    data_as_of: Option<Day>,
    home: Option<healthcode::domain::RegionCode>,
) -> PathBuf {
    let input = BuildInput {
        people: people.iter().map(|(id, p)| (*id, p)).collect(),
        risk_areas: areas,
        regions: RegionTable::bundled(),
        data_as_of,
        hashed: Vec::new(),
        folded: None,
        home,
    };
    let (bytes, _) = build_bytes(&input, &key()).expect("the test index builds");
    let path = dir.join("index.hci");
    write_atomic(&path, &bytes).expect("the test index is written");
    path
}

/// Adds `authorization: Bearer <token>` to every call, or nothing.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// A `HealthCode` client with a credential.
pub type CodeClient = HealthCodeClient<InterceptedService<Channel, Bearer>>;
/// An `Admin` client with a credential.
pub type OpsClient = AdminClient<InterceptedService<Channel, Bearer>>;

/// A server running in this process, stopped through a oneshot channel.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Server {
    /// Maps and verifies the index at `path`, then serves it on a free port of 127.0.0.1.
    pub async fn start(path: &Path, policy: Policy, today: Option<Day>, tokens: Tokens) -> Server {
        let index = serve::open_index(path, &key()).expect("the test index opens and verifies");
        let state = Arc::new(State::new(index, path.to_path_buf(), key(), policy, today));
        Server::serve(state, tokens).await
    }

    /// Serves the index at `path` with live updates kept in `state_dir`; returns the server and
    /// its state.
    pub async fn start_live(
        path: &Path,
        state_dir: &Path,
        policy: Policy,
        today: Option<Day>,
    ) -> (Server, Arc<State>) {
        let index = serve::open_index(path, &key()).expect("the test index opens and verifies");
        // A server stopped just before may still be letting go of the directory's LOCK (a
        // thread of it finishing on its own time): wait for it, bounded.
        let asked = std::time::Instant::now();
        let (overlay, _) = loop {
            match healthcode::overlay::Overlay::open(state_dir, key().fingerprint()) {
                Err(e)
                    if e.to_string().contains("LOCK is held")
                        && asked.elapsed() < std::time::Duration::from_secs(30) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                r => break r.expect("the state directory opens"),
            }
        };
        let state = Arc::new(
            State::with_overlay(
                index,
                path.to_path_buf(),
                key(),
                policy,
                today,
                Some(overlay),
            )
            .expect("the index is servable with this state"),
        );
        (Server::serve(state.clone(), tokens()).await, state)
    }

    /// Serves `state` on a free port of 127.0.0.1. The queueing-time bound's interval is a
    /// second rather than the default: an unoptimised build on a busy machine can keep a call
    /// from its thread for tens of milliseconds, and the tests using this server are not about
    /// shedding (`tests/overload.rs` is).
    pub async fn serve(state: Arc<State>, tokens: Tokens) -> Server {
        let config = serve::LimitsConfig {
            queue_interval: std::time::Duration::from_secs(1),
            ..serve::LimitsConfig::default()
        };
        let limits = serve::Limits::new(&config).expect("valid limits");
        Server::serve_limited(state, tokens, Arc::new(limits)).await
    }

    /// Serves `state` on a free port of 127.0.0.1, admitting queries within `limits`.
    pub async fn serve_limited(
        state: Arc<State>,
        tokens: Tokens,
        limits: Arc<serve::Limits>,
    ) -> Server {
        let (listener, addr) = serve::bind("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("binding 127.0.0.1:0");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::serve_limited(
            state,
            tokens,
            limits,
            listener,
            async {
                let _ = rx.await;
            },
        ));
        Server {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Serves `state` on a free port of 127.0.0.1 with `options` (limits, metrics…).
    pub async fn serve_with(state: Arc<State>, tokens: Tokens, options: serve::Options) -> Server {
        let (listener, addr) = serve::bind("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("binding 127.0.0.1:0");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve::serve_with(
                state,
                tokens,
                listener,
                async {
                    let _ = rx.await;
                },
                options,
            )
            .await
            .map(|_| ())
        });
        Server {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A new connection to the server.
    pub async fn channel(&self) -> Channel {
        channel(&self.addr.to_string()).await
    }

    /// A `HealthCode` client sending `token` (none when `None`).
    pub async fn codes(&self, token: Option<&str>) -> CodeClient {
        HealthCodeClient::with_interceptor(self.channel().await, bearer(token))
    }

    /// An `Admin` client sending `token` (none when `None`).
    pub async fn admin(&self, token: Option<&str>) -> OpsClient {
        AdminClient::with_interceptor(self.channel().await, bearer(token))
    }

    /// Signals shutdown and waits for the server to return, which it must do cleanly.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().expect("not stopped yet").send(());
        let task = self.task.take().expect("not stopped yet");
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("the server stops within 10 s of the signal")
            .expect("the server task does not panic")
            .expect("the server returns without a transport error");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The interceptor sending `token` (none when `None`).
pub fn bearer(token: Option<&str>) -> Bearer {
    Bearer(token.map(|t| {
        format!("Bearer {t}")
            .parse()
            .expect("a token is valid metadata")
    }))
}

/// A new plaintext connection to the server at `addr` (`127.0.0.1:PORT`).
pub async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}
