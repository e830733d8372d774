//! The gRPC server: serves a memory-mapped index through the `HealthCode` and `Admin` services,
//! with bearer-token credentials, the standard health service and server reflection, in
//! plaintext or over TLS (optionally mutual), and stops by draining the calls in flight.
//!
//! Invariant: request handlers never verify, parse or copy the index; they hold one snapshot
//! for their whole life.

pub mod admin;
pub mod answer;
pub mod auth;
pub mod drain;
pub mod follow;
pub mod grpc;
pub mod limits;
pub mod metrics;
pub mod metrics_http;
pub mod pages;
pub mod rebuild;
pub mod state;
pub mod stream;
pub mod tls;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::proto::admin_server::AdminServer;
pub use auth::Tokens;
pub use limits::{Limits, LimitsConfig};
pub use metrics::Metrics;
pub use state::{LoadError, ReloadTurn, Snapshot, State, open_index};
pub use tls::ServerTls;
use wire::server::health_code_server::HealthCodeServer;

/// Largest decoded request: a full batch of 10,000 ids with room to spare.
pub const MAX_DECODED_MESSAGE: usize = 4 << 20;

/// Serves `state` in plaintext on `listener` until `shutdown` resolves, then drains with the
/// default drain time.
pub async fn serve(
    state: Arc<State>,
    tokens: Tokens,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_with(state, tokens, listener, shutdown, Options::default())
        .await
        .map(|_| ())
}

/// Serves `state` in plaintext on `listener` until `shutdown` resolves, admitting queries within
/// `limits`.
pub async fn serve_limited(
    state: Arc<State>,
    tokens: Tokens,
    limits: Arc<Limits>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let options = Options {
        limits,
        ..Options::default()
    };
    serve_with(state, tokens, listener, shutdown, options)
        .await
        .map(|_| ())
}

/// How the server listens and stops.
#[derive(Clone)]
pub struct Options {
    /// TLS, or plaintext when `None`.
    pub tls: Option<ServerTls>,
    /// How long the calls in flight at shutdown may take to finish before they are cut.
    pub drain_timeout: Duration,
    /// Most calls open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_streams: u32,
    /// What queries are admitted: in flight at once, and per caller.
    pub limits: Arc<Limits>,
    /// Where calls, answers, refusals and swaps are recorded (`None`: no metrics are kept and
    /// nothing is recorded).
    pub metrics: Option<Arc<Metrics>>,
}

/// The default of `--max-streams`: what the HTTP/2 server would announce by itself.
pub const DEFAULT_MAX_STREAMS: u32 = 200;

/// The default of `--drain-timeout`.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Options {
    fn default() -> Options {
        Options {
            tls: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_streams: DEFAULT_MAX_STREAMS,
            limits: Arc::new(
                Limits::new(&LimitsConfig::default()).expect("the default limits are valid"),
            ),
            metrics: None,
        }
    }
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Calls in flight when the shutdown came.
    pub in_flight: usize,
    /// Calls still running when the drain time ran out, ended with `UNAVAILABLE` (0 when all
    /// finished in time).
    pub cut: usize,
    /// From the shutdown until the last call finished or was cut.
    pub drained_in: Duration,
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains: the health service turns
/// `NOT_SERVING` at once (for the server and both services) and keeps answering; every other new
/// call is refused with `UNAVAILABLE`; the calls in flight, streams included, get up to
/// `options.drain_timeout` to finish, after which they are ended with `UNAVAILABLE`; then the
/// connections are closed.
pub async fn serve_with(
    state: Arc<State>,
    tokens: Tokens,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    options: Options,
) -> Result<Stopped, tonic::transport::Error> {
    // The server's own status ("") last, so that whoever sees it change sees the others changed.
    const SERVICES: [&str; 3] = ["healthcode.v1.HealthCode", "healthcode.v1.Admin", ""];
    let (mut health_reporter, health) = tonic_health::server::health_reporter();
    for s in SERVICES {
        health_reporter
            .set_service_status(s, tonic_health::ServingStatus::Serving)
            .await;
    }
    // Reflection in both protocol versions: v1, and v1alpha, which many clients still speak
    // (grpcio-reflection's descriptor database, older grpcurl).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the compiled-in descriptor sets are valid");
    let reflection = reflection()
        .build_v1()
        .expect("the compiled-in descriptor sets are valid");
    let limits = options.limits;
    let metrics = options.metrics;
    let codes = HealthCodeServer::new(grpc::HealthCodeService {
        state: state.clone(),
        limits: limits.clone(),
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_MESSAGE);
    let admin = AdminServer::new(admin::AdminService {
        state,
        metrics: metrics.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_MESSAGE);
    let mut builder = server_builder().max_concurrent_streams(options.max_streams);
    if let Some(tls) = options.tls {
        // Applies to every connection the server accepts, from `incoming` too.
        builder = builder.tls_config(tls.config)?;
    }
    let drain = drain::Drain::with_metrics(metrics.clone());
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let server = builder
        .layer(drain.layer())
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            limits::Admission::new(codes, limits, metrics),
            tokens.query_interceptor(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            admin,
            tokens.admin_interceptor(),
        ))
        .serve_with_incoming_shutdown(incoming(listener), async {
            let _ = close_rx.await;
        });
    let mut server = std::pin::pin!(server);

    // Serve until the shutdown (or until the server fails).
    tokio::select! {
        r = &mut server => return r.map(|()| Stopped { in_flight: 0, cut: 0, drained_in: Duration::ZERO }),
        () = shutdown => {}
    }
    let began = Instant::now();
    // New calls are refused before the health service says so.
    let in_flight = drain.start();
    let drained = async {
        for s in SERVICES {
            health_reporter
                .set_service_status(s, tonic_health::ServingStatus::NotServing)
                .await;
        }
        tokio::select! {
            () = drain.idle() => 0,
            () = tokio::time::sleep(options.drain_timeout) => drain.cut(),
        }
    };
    // The server goes on accepting connections meanwhile: health checks are answered and other
    // new calls refused rather than left unanswered.
    let cut = tokio::select! {
        r = &mut server => {
            // The listener ended by itself: nothing more to drain through it.
            r?;
            return Ok(Stopped { in_flight, cut: drain.in_flight(), drained_in: began.elapsed() });
        }
        cut = drained => cut,
    };
    let drained_in = began.elapsed();
    // Health watches never end by themselves: end them, then close every connection.
    for s in SERVICES {
        health_reporter.clear_service_status(s).await;
    }
    let _ = close_tx.send(());
    // The cut calls end at once; a connection that is still open after this is left to the
    // process's exit rather than holding it.
    if let Ok(Err(e)) = tokio::time::timeout(CLOSE_GRACE, &mut server).await {
        return Err(e);
    }
    Ok(Stopped {
        in_flight,
        cut,
        drained_in,
    })
}

/// How long the connections may take to close once no call is in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The transport settings of the server. The load-test harness's ceiling server is built from
/// the same function, so that its figure is what this stack allows, not another stack's.
pub fn server_builder() -> tonic::transport::Server {
    tonic::transport::Server::builder().tcp_nodelay(true)
}

/// The accepted connections of `listener`, with Nagle's algorithm off: the builder's own
/// `tcp_nodelay` applies only to listeners it binds itself, and without it a small answer waits
/// for the peer's delayed acknowledgement (about 40 ms on Linux).
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Binds `addr` (port 0 picks a free port) and reports the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
