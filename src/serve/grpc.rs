//! The query service of DOMAIN.md §5 over the shared state: `HealthCode` (single, batch,
//! stream); `Admin` is in `admin.rs`.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::answer::{Stamp, answer_with, each_code, query_day};
use super::auth::Caller;
use super::limits::{Arrival, Deadline, Limits};
use super::metrics::{Method, Metrics, Tally};
use super::state::State;
use super::stream::Answers;
use super::wire::{
    self, BatchWriter, EncodedBatch, EncodedCode, server::health_code_server::HealthCode,
};
use crate::proto;

/// Most ids one `GetCodes` call may carry.
pub const MAX_BATCH: usize = 10_000;

/// The `HealthCode` service.
#[derive(Clone)]
pub struct HealthCodeService {
    /// Shared state.
    pub state: Arc<State>,
    /// Admission: in-flight permits for streams, per-caller rate limits.
    pub limits: Arc<Limits>,
    /// Where answers and refusals are counted, when the server keeps metrics.
    pub metrics: Option<Arc<Metrics>>,
}

/// Records into `metrics` when the server keeps them.
#[inline]
pub(super) fn note(metrics: &Option<Arc<Metrics>>, f: impl FnOnce(&Metrics)) {
    if let Some(m) = metrics {
        f(m);
    }
}

/// Batches of at least this many ids are evaluated on the evaluation threads (about 100 µs of
/// work and up), smaller ones in the handler, where handing over would cost more than it saves.
pub const OFFLOAD_FROM: usize = 64;

thread_local! {
    /// The stamp of this thread's last `GetCode` answer: the calls that follow it on the same
    /// day and snapshot end with the same bytes, so they take them instead of writing the day's
    /// text again.
    static UNARY_STAMP: std::cell::RefCell<Option<Stamp>> = const { std::cell::RefCell::new(None) };
}

/// Ids between two looks at the clock in a batch: a few microseconds of work each.
const DEADLINE_EVERY: usize = 32;

/// The caller's token name and the call's deadline, as the interceptor and the admission layer
/// left them in the request.
fn query_caller<T>(req: &Request<T>) -> (&str, Option<Deadline>) {
    (
        req.extensions()
            .get::<Caller>()
            .map_or("anonymous", |c| &*c.name),
        req.extensions().get::<Deadline>().copied(),
    )
}

/// The answer stream of `StreamCodes`.
pub type CodeStream = Pin<Box<dyn Stream<Item = Result<EncodedCode, Status>> + Send>>;

#[tonic::async_trait]
impl HealthCode for HealthCodeService {
    async fn get_code(
        &self,
        req: Request<proto::CodeRequest>,
    ) -> Result<Response<EncodedCode>, Status> {
        let (who, deadline) = query_caller(&req);
        self.limits
            .check_queue(req.extensions().get::<Arrival>())
            .inspect_err(|_| note(&self.metrics, |m| m.shed(Method::GET_CODE)))?;
        self.limits
            .charge(who, 1)
            .inspect_err(|_| note(&self.metrics, |m| m.rate_limited(Method::GET_CODE)))?;
        Deadline::check_opt(deadline.as_ref(), 0, Some(1))?;
        let r = req.into_inner();
        let snap = self.state.current();
        let mut tally = Tally::default();
        let answer = UNARY_STAMP.with_borrow_mut(|last| {
            answer_with(
                &self.state,
                &snap,
                &r.id_number,
                &r.as_of,
                last,
                |code, known, stamp| {
                    tally.add(code, known);
                    wire::code(&snap, code, known, stamp)
                },
            )
        });
        if answer.is_err() {
            tally.add_invalid();
        }
        note(&self.metrics, |m| m.answered(&tally));
        Ok(Response::new(answer?))
    }

    async fn get_codes(
        &self,
        req: Request<proto::BatchCodeRequest>,
    ) -> Result<Response<EncodedBatch>, Status> {
        let n = req.get_ref().id_numbers.len();
        if n > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "{n} ids in one call; at most {MAX_BATCH}: split the batch"
            )));
        }
        let (who, deadline) = query_caller(&req);
        let arrival = req.extensions().get::<Arrival>().copied();
        self.limits
            .check_queue(arrival.as_ref())
            .inspect_err(|_| note(&self.metrics, |m| m.shed(Method::GET_CODES)))?;
        self.limits
            .charge(who, n)
            .inspect_err(|_| note(&self.metrics, |m| m.rate_limited(Method::GET_CODES)))?;
        let r = req.into_inner();
        let day = query_day(&self.state, &r.as_of)?;
        let state = self.state.clone();
        let evaluate = move || {
            let snap = state.current();
            let stamp = Stamp::new(&snap, day);
            let mut out = BatchWriter::new(&snap, &stamp, n);
            let mut tally = Tally::default();
            each_code(&state, &snap, &r.id_numbers, day, |i, answer| {
                // A call whose client has given up stops here instead of finishing the batch.
                if i % DEADLINE_EVERY == 0 {
                    Deadline::check_opt(deadline.as_ref(), i, Some(n))?;
                }
                match answer {
                    Ok((code, known)) => {
                        tally.add(code, known);
                        out.valid(code, known);
                    }
                    Err(e) => {
                        tally.add_invalid();
                        out.invalid(&e.0);
                    }
                }
                Ok::<(), Status>(())
            })?;
            Ok((out.finish(), tally))
        };
        // A large batch is milliseconds of work: it goes to the evaluation threads, so that it
        // neither delays the connections' reads and writes nor hides its own queueing.
        let (out, tally) = if n >= OFFLOAD_FROM {
            self.limits
                .offload(arrival, evaluate)
                .await
                .inspect_err(|s| {
                    if s.code() == tonic::Code::ResourceExhausted {
                        note(&self.metrics, |m| m.shed(Method::GET_CODES));
                    }
                })?
        } else {
            evaluate()?
        };
        // Counted once the whole batch is answered: a batch cut by its deadline served nothing.
        note(&self.metrics, |m| m.answered(&tally));
        Ok(Response::new(out))
    }

    type StreamCodesStream = CodeStream;

    async fn stream_codes(
        &self,
        req: Request<Streaming<proto::CodeRequest>>,
    ) -> Result<Response<Self::StreamCodesStream>, Status> {
        let (who, deadline) = query_caller(&req);
        let who = who.to_string();
        Ok(Response::new(Box::pin(Answers::new(
            req.into_inner(),
            self,
            who,
            deadline,
        ))))
    }
}
