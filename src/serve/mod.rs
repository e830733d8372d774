//! The gRPC server: serves a memory-mapped index through the `HealthCode` and `Admin` services,
//! with bearer-token credentials, the standard health service and server reflection.
//!
//! Invariant: request handlers never verify, parse or copy the index; they hold one snapshot
//! for their whole life.

pub mod answer;
pub mod auth;
pub mod grpc;
pub mod limits;
pub mod rebuild;
pub mod state;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::proto::admin_server::AdminServer;
pub use auth::Tokens;
pub use limits::{Limits, LimitsConfig};
pub use state::{LoadError, Snapshot, State, open_index};
use wire::server::health_code_server::HealthCodeServer;

/// Largest decoded request: a full batch of 10,000 ids with room to spare.
pub const MAX_DECODED_MESSAGE: usize = 4 << 20;

/// Serves `state` on `listener` until `shutdown` resolves, with the default limits.
pub async fn serve(
    state: Arc<State>,
    tokens: Tokens,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let limits = Limits::new(&LimitsConfig::default()).expect("the default limits are valid");
    serve_limited(state, tokens, Arc::new(limits), listener, shutdown).await
}

/// Serves `state` on `listener` until `shutdown` resolves, admitting queries within `limits`.
pub async fn serve_limited(
    state: Arc<State>,
    tokens: Tokens,
    limits: Arc<Limits>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(
            "healthcode.v1.HealthCode",
            tonic_health::ServingStatus::Serving,
        )
        .await;
    health_reporter
        .set_service_status("healthcode.v1.Admin", tonic_health::ServingStatus::Serving)
        .await;
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the compiled-in descriptor sets are valid");
    let codes = HealthCodeServer::new(grpc::HealthCodeService {
        state: state.clone(),
        limits: limits.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_MESSAGE);
    let admin = AdminServer::new(grpc::AdminService { state })
        .max_decoding_message_size(MAX_DECODED_MESSAGE);
    server_builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            limits::Admission::new(codes, limits),
            tokens.query_interceptor(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            admin,
            tokens.admin_interceptor(),
        ))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
}

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
