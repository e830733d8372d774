//! The load generator's connection: calls the `HealthCode` RPCs and reads from each answer only
//! what it counts (colour, `known`, validity), skipping the findings without decoding them, so
//! that on a shared machine the generator takes as little CPU from the server as it can.
//! `--full-decode` decodes every field, as an app would.

use std::time::Duration;

use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};
use tonic_prost::ProstCodec;

use crate::drive::Auth;
use crate::ids::Kind;
use healthcode::proto;

/// The fields of a `CodeResponse` the generator reads; `findings` (tag 2) is skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanCode {
    /// `color`.
    #[prost(int32, tag = "1")]
    pub color: i32,
    /// `known`.
    #[prost(bool, tag = "4")]
    pub known: bool,
    /// `error` (stream answers to an invalid id), not checked as UTF-8.
    #[prost(bytes = "vec", tag = "8")]
    pub error: Vec<u8>,
}

/// The fields of a `CodeResult` the generator reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanResult {
    /// `valid`.
    #[prost(bool, tag = "1")]
    pub valid: bool,
    /// `code`.
    #[prost(message, optional, tag = "3")]
    pub code: Option<LeanCode>,
}

/// The fields of a `BatchCodeResponse` the generator reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanBatch {
    /// `results`.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<LeanResult>,
}

/// An answer the generator can classify.
pub trait Answer: prost::Message + Default + Send + 'static {
    /// What it says.
    fn kind(&self) -> Kind;
}

/// What an answer with these fields says.
fn classify(error: bool, color: i32, known: bool) -> Kind {
    if error || color == 0 {
        Kind::Invalid
    } else if known {
        Kind::Known
    } else {
        Kind::Unknown
    }
}

/// What a batch result says.
fn result_kind(valid: bool, code: Option<&impl Answer>) -> Kind {
    match code {
        Some(c) if valid => c.kind(),
        _ => Kind::Invalid,
    }
}

impl Answer for LeanCode {
    fn kind(&self) -> Kind {
        classify(!self.error.is_empty(), self.color, self.known)
    }
}

impl Answer for proto::CodeResponse {
    fn kind(&self) -> Kind {
        classify(!self.error.is_empty(), self.color, self.known)
    }
}

/// A batch answer the generator can classify.
pub trait BatchAnswer: prost::Message + Default + Send + 'static {
    /// What each result says.
    fn kinds(&self) -> Vec<Kind>;
}

impl BatchAnswer for LeanBatch {
    fn kinds(&self) -> Vec<Kind> {
        let r = self.results.iter();
        r.map(|r| result_kind(r.valid, r.code.as_ref())).collect()
    }
}

impl BatchAnswer for proto::BatchCodeResponse {
    fn kinds(&self) -> Vec<Kind> {
        let r = self.results.iter();
        r.map(|r| result_kind(r.valid, r.code.as_ref())).collect()
    }
}

/// One HTTP/2 connection to the `HealthCode` service.
#[derive(Clone)]
pub struct Conn {
    grpc: Grpc<InterceptedService<Channel, Auth>>,
    /// Decode every field of the answers.
    pub full: bool,
}

fn not_ready(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("connection not ready: {e}"))
}

impl Conn {
    /// Wraps a connected channel.
    pub fn new(channel: Channel, auth: Auth, full: bool) -> Conn {
        let grpc = Grpc::new(InterceptedService::new(channel, auth))
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20);
        Conn { grpc, full }
    }

    /// One unary call of `path`, with a deadline when `timeout` is set: sent to the server as
    /// `grpc-timeout` and kept by the client, which gives up with `DEADLINE_EXCEEDED` when it
    /// passes, as an app would.
    async fn call<Q, A>(
        &mut self,
        path: &'static str,
        req: Q,
        timeout: Option<Duration>,
    ) -> Result<A, Status>
    where
        Q: prost::Message + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        let mut req = Request::new(req);
        if let Some(t) = timeout {
            req.set_timeout(t);
        }
        let call = async {
            self.grpc.ready().await.map_err(not_ready)?;
            let path = PathAndQuery::from_static(path);
            let r = self
                .grpc
                .unary(req, path, ProstCodec::<Q, A>::default())
                .await?;
            Ok(r.into_inner())
        };
        match timeout {
            None => call.await,
            Some(t) => tokio::time::timeout(t, call).await.unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(format!(
                    "no answer within the client's deadline of {t:?}"
                )))
            }),
        }
    }

    /// `GetCode`: what the answer says.
    pub async fn get_code(
        &mut self,
        req: proto::CodeRequest,
        timeout: Option<Duration>,
    ) -> Result<Kind, Status> {
        const PATH: &str = "/healthcode.v1.HealthCode/GetCode";
        Ok(if self.full {
            self.call::<_, proto::CodeResponse>(PATH, req, timeout)
                .await?
                .kind()
        } else {
            self.call::<_, LeanCode>(PATH, req, timeout).await?.kind()
        })
    }

    /// `GetCodes`: what each result says.
    pub async fn get_codes(
        &mut self,
        req: proto::BatchCodeRequest,
        timeout: Option<Duration>,
    ) -> Result<Vec<Kind>, Status> {
        const PATH: &str = "/healthcode.v1.HealthCode/GetCodes";
        Ok(if self.full {
            self.call::<_, proto::BatchCodeResponse>(PATH, req, timeout)
                .await?
                .kinds()
        } else {
            self.call::<_, LeanBatch>(PATH, req, timeout).await?.kinds()
        })
    }

    /// `StreamCodes` over `requests`: the answers, in order.
    pub async fn stream_codes<A: Answer>(
        &mut self,
        requests: impl tokio_stream::Stream<Item = proto::CodeRequest> + Send + 'static,
    ) -> Result<Streaming<A>, Status> {
        self.grpc.ready().await.map_err(not_ready)?;
        let path = PathAndQuery::from_static("/healthcode.v1.HealthCode/StreamCodes");
        let r = self
            .grpc
            .streaming(
                Request::new(requests),
                path,
                ProstCodec::<proto::CodeRequest, A>::default(),
            )
            .await?;
        Ok(r.into_inner())
    }
}
