//! The gRPC services of DOMAIN.md §5 over the shared state: `HealthCode` (single, batch,
//! stream) and `Admin` (info and affected counts now; live writes and swaps are refused with
//! `UNIMPLEMENTED` until they exist).

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::answer::{answer, code_for, query_day, response};
use super::state::State;
use crate::domain::{Day, RegionCode};
use crate::proto::{self, admin_server::Admin, health_code_server::HealthCode};

/// Most ids one `GetCodes` call may carry.
pub const MAX_BATCH: usize = 10_000;

/// The `HealthCode` service.
#[derive(Clone)]
pub struct HealthCodeService {
    /// Shared state.
    pub state: Arc<State>,
}

type CodeStream = Pin<Box<dyn Stream<Item = Result<proto::CodeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl HealthCode for HealthCodeService {
    async fn get_code(
        &self,
        req: Request<proto::CodeRequest>,
    ) -> Result<Response<proto::CodeResponse>, Status> {
        let r = req.into_inner();
        let snap = self.state.current();
        Ok(Response::new(answer(
            &self.state,
            &snap,
            &r.id_number,
            &r.as_of,
        )?))
    }

    async fn get_codes(
        &self,
        req: Request<proto::BatchCodeRequest>,
    ) -> Result<Response<proto::BatchCodeResponse>, Status> {
        let r = req.into_inner();
        if r.id_numbers.len() > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} ids in one call; at most {MAX_BATCH}: split the batch",
                r.id_numbers.len()
            )));
        }
        let day = query_day(&self.state, &r.as_of)?;
        let snap = self.state.current();
        let results = r
            .id_numbers
            .iter()
            .map(|id| match code_for(&self.state, &snap, id, day) {
                Ok((code, known)) => proto::CodeResult {
                    valid: true,
                    error: String::new(),
                    code: Some(response(&snap, &code, known, day)),
                },
                Err(e) => proto::CodeResult {
                    valid: false,
                    error: e.0,
                    code: None,
                },
            })
            .collect();
        Ok(Response::new(proto::BatchCodeResponse { results }))
    }

    type StreamCodesStream = CodeStream;

    async fn stream_codes(
        &self,
        req: Request<Streaming<proto::CodeRequest>>,
    ) -> Result<Response<Self::StreamCodesStream>, Status> {
        let state = self.state.clone();
        let inbound = req.into_inner();
        let out = inbound.map(move |item| {
            let r = item?;
            let snap = state.current();
            Ok(
                answer(&state, &snap, &r.id_number, &r.as_of).unwrap_or_else(|e| {
                    proto::CodeResponse {
                        color: proto::Color::Unspecified as i32,
                        as_of: r.as_of,
                        index_generation: snap.generation,
                        data_as_of: snap.index.data_as_of().to_string(),
                        error: e.0,
                        ..Default::default()
                    }
                }),
            )
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// The `Admin` service.
#[derive(Clone)]
pub struct AdminService {
    /// Shared state.
    pub state: Arc<State>,
}

fn not_yet(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what} is not available in this release of healthcode"
    ))
}

fn parse_region(field: &str, s: &str) -> Result<RegionCode, Status> {
    RegionCode::parse(s).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

fn parse_day(field: &str, s: &str) -> Result<Day, Status> {
    Day::parse(s).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn set_risk_area(
        &self,
        _: Request<proto::SetRiskAreaRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        Err(not_yet("SetRiskArea (live updates)"))
    }

    async fn lift_risk_area(
        &self,
        _: Request<proto::LiftRiskAreaRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        Err(not_yet("LiftRiskArea (live updates)"))
    }

    async fn record_verification(
        &self,
        _: Request<proto::RecordVerificationRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        Err(not_yet("RecordVerification (live updates)"))
    }

    async fn record_registration(
        &self,
        _: Request<proto::RecordRegistrationRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        Err(not_yet("RecordRegistration (live updates)"))
    }

    async fn reload(
        &self,
        _: Request<proto::ReloadRequest>,
    ) -> Result<Response<proto::ReloadResponse>, Status> {
        Err(not_yet("Reload (hot swap)"))
    }

    type RebuildStream = Pin<Box<dyn Stream<Item = Result<proto::RebuildProgress, Status>> + Send>>;

    async fn rebuild(
        &self,
        _: Request<proto::RebuildRequest>,
    ) -> Result<Response<Self::RebuildStream>, Status> {
        Err(not_yet("Rebuild (the rebuild trigger)"))
    }

    async fn affected_count(
        &self,
        req: Request<proto::AffectedCountRequest>,
    ) -> Result<Response<proto::AffectedCountResponse>, Status> {
        let r = req.into_inner();
        let region = parse_region("region", &r.region)?;
        let from = parse_day("from", &r.from)?;
        let to = if r.to.is_empty() {
            self.state.today()
        } else {
            parse_day("to", &r.to)?
        };
        if to < from {
            return Err(Status::invalid_argument(format!(
                "to {to} is before from {from}"
            )));
        }
        let snap = self.state.current();
        let (definite, possible) = snap.index.affected(region, from, to);
        Ok(Response::new(proto::AffectedCountResponse {
            definite: definite.len(),
            possible: possible.len(),
        }))
    }

    async fn info(
        &self,
        _: Request<proto::InfoRequest>,
    ) -> Result<Response<proto::InfoResponse>, Status> {
        let snap = self.state.current();
        Ok(Response::new(proto::InfoResponse {
            generation: snap.generation,
            persons: u64::from(snap.index.persons()),
            data_as_of: snap.index.data_as_of().to_string(),
            policy: self.state.policy.as_str().to_string(),
            overlay_sequence: 0,
        }))
    }
}
