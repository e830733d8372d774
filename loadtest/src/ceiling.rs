//! The ceiling server: the `HealthCode` service on healthcode's own transport settings, answering
//! every id with one constant response, so that a run can state healthcode's throughput as a
//! share of what the gRPC stack itself allows on the same machine at the same moment.

use std::net::SocketAddr;

use healthcode::proto::{
    self, health_code_server::HealthCode, health_code_server::HealthCodeServer,
};
use healthcode::serve::grpc::CodeStream;
use healthcode::serve::{MAX_DECODED_MESSAGE, Tokens};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

/// Answers every id with `answer`.
#[derive(Clone)]
struct Constant {
    answer: proto::CodeResponse,
}

#[tonic::async_trait]
impl HealthCode for Constant {
    async fn get_code(
        &self,
        _req: Request<proto::CodeRequest>,
    ) -> Result<Response<proto::CodeResponse>, Status> {
        Ok(Response::new(self.answer.clone()))
    }

    async fn get_codes(
        &self,
        req: Request<proto::BatchCodeRequest>,
    ) -> Result<Response<proto::BatchCodeResponse>, Status> {
        let n = req.into_inner().id_numbers.len();
        let one = proto::CodeResult {
            valid: true,
            error: String::new(),
            code: Some(self.answer.clone()),
        };
        Ok(Response::new(proto::BatchCodeResponse {
            results: vec![one; n],
        }))
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

/// Starts a ceiling server on loopback, on its own multi-threaded runtime (as the real server
/// has), checking `token` the way the real server checks its query tokens.
pub fn start(answer: proto::CodeResponse, token: Option<&str>) -> anyhow::Result<Ceiling> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ceiling")
        .build()?;
    let tokens = match token {
        Some(t) => Tokens::parse(&format!("query loadtest {t}\n"), "ceiling")
            .map_err(anyhow::Error::msg)?,
        None => Tokens::disabled(),
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let svc =
        HealthCodeServer::new(Constant { answer }).max_decoding_message_size(MAX_DECODED_MESSAGE);
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
