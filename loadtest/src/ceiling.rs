//! The ceiling server: the `HealthCode` service on healthcode's own transport settings, answering
//! every id with one constant response, so that a run can state healthcode's throughput as a
//! share of what the gRPC stack itself allows on the same machine at the same moment.

use std::net::SocketAddr;

use healthcode::proto;
use healthcode::serve::grpc::CodeStream;
use healthcode::serve::wire::server::health_code_server::{HealthCode, HealthCodeServer};
use healthcode::serve::wire::{BatchBytes, EncodedBatch, EncodedCode};
use healthcode::serve::{MAX_DECODED_MESSAGE, Tokens};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

/// Answers every id with `answer`, encoded once (the real server writes each answer's bytes
/// straight from the rules' result; here the bytes are only copied).
#[derive(Clone)]
struct Constant {
    answer: EncodedCode,
}

#[tonic::async_trait]
impl HealthCode for Constant {
    async fn get_code(
        &self,
        _req: Request<proto::CodeRequest>,
    ) -> Result<Response<EncodedCode>, Status> {
        Ok(Response::new(self.answer.clone()))
    }

    async fn get_codes(
        &self,
        req: Request<proto::BatchCodeRequest>,
    ) -> Result<Response<EncodedBatch>, Status> {
        let n = req.into_inner().id_numbers.len();
        let mut out = BatchBytes::with_capacity(n);
        for _ in 0..n {
            out.valid_from(&self.answer);
        }
        Ok(Response::new(out.finish()))
    }

    type StreamCodesStream = CodeStream;

    async fn stream_codes(
        &self,
        req: Request<Streaming<proto::CodeRequest>>,
    ) -> Result<Response<Self::StreamCodesStream>, Status> {
        let answer = self.answer.clone();
        let out = req.into_inner().map(move |m| m.map(|_| answer.clone()));
        Ok(Response::new(Box::pin(out)))
    }
}

/// A running ceiling server; dropping it stops it.
pub struct Ceiling {
    /// Where it listens.
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Starts a ceiling server on `listen` (port 0: a free port), on its own multi-threaded runtime
/// (as the real server has), checking `token` the way the real server checks its query tokens.
pub fn start(
    answer: proto::CodeResponse,
    token: Option<&str>,
    listen: SocketAddr,
) -> anyhow::Result<Ceiling> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ceiling")
        .build()?;
    let tokens = match token {
        Some(t) => Tokens::parse(&format!("query loadtest {t}\n"), "ceiling")
            .map_err(anyhow::Error::msg)?,
        None => Tokens::disabled(),
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind(listen))?;
    let addr = listener.local_addr()?;
    let svc = HealthCodeServer::new(Constant {
        answer: answer.into(),
    })
    .max_decoding_message_size(MAX_DECODED_MESSAGE);
    runtime.spawn(async move {
        let r = healthcode::serve::server_builder()
            .add_service(tonic::service::interceptor::InterceptedService::new(
                svc,
                tokens.query_interceptor(),
            ))
            .serve_with_incoming(healthcode::serve::incoming(listener))
            .await;
        if let Err(e) = r {
            eprintln!("loadtest: ceiling server stopped: {e}");
        }
    });
    Ok(Ceiling {
        addr,
        runtime: Some(runtime),
    })
}
