//! `StreamCodes`' answers: the messages that have already arrived are answered a chunk at a time,
//! in their order, through the same pipelined index reads as a `GetCodes` batch.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tonic::{Status, Streaming};

use super::answer::{Stamp, each_code, query_day};
use super::grpc::{HealthCodeService, note};
use super::limits::{Deadline, Permit};
use super::metrics::{Method, Tally};
use super::state::{Snapshot, State};
use super::wire::{AnswerWriter, EncodedCode};
use crate::proto;

/// Most messages answered as one chunk: the next ids' index reads overlap the evaluation of the
/// current one within a chunk, and each chunk is one pass through the transport's encoder; few
/// enough that the first answer of a full chunk waits for at most about 300 µs of work.
/// Measured (BENCHMARKS.md, "What was changed, and what moved"): 256 gave 1.13× the persons/s
/// of 64, 1.06× of 128, 1.21× of 1,024.
pub const CHUNK: usize = 256;

/// Answers `chunk` in order, handing each encoded answer to `put`: a valid id its code, an
/// invalid id or `as_of` an answer carrying only the error (with the request's `as_of`, the
/// generation and the data date), as a stream answers it instead of ending. Consecutive messages
/// of one `as_of` are evaluated as one batch ([`each_code`]); `stamp` is reused while it fits.
/// Returns what the answers were, for the metrics.
pub fn answer_chunk(
    state: &State,
    snap: &Snapshot,
    stamp: &mut Option<Stamp>,
    mut chunk: Vec<proto::CodeRequest>,
    mut put: impl FnMut(EncodedCode),
) -> Tally {
    let mut tally = Tally::default();
    let mut ids = Vec::with_capacity(chunk.len());
    let mut start = 0;
    while start < chunk.len() {
        let end = start
            + chunk[start..]
                .iter()
                .take_while(|r| r.as_of == chunk[start].as_of)
                .count();
        let run = &mut chunk[start..end];
        match query_day(state, &run[0].as_of) {
            Err(e) => {
                for r in run.iter() {
                    tally.add_invalid();
                    put(invalid(snap, &r.as_of, e.0.clone()));
                }
            }
            Ok(day) => {
                let stamp = match stamp {
                    Some(s) if s.fits(snap, day) => s,
                    _ => stamp.insert(Stamp::new(snap, day)),
                };
                let mut writer = AnswerWriter::new(snap, stamp);
                ids.clear();
                ids.extend(run.iter_mut().map(|r| std::mem::take(&mut r.id_number)));
                let as_of = &run[0].as_of;
                let Ok(()) = each_code(state, snap, &ids, day, |_, answer| {
                    match answer {
                        Ok((code, known)) => {
                            tally.add(code, known);
                            put(writer.code(code, known));
                        }
                        Err(e) => {
                            tally.add_invalid();
                            put(invalid(snap, as_of, e.0));
                        }
                    }
                    Ok::<(), std::convert::Infallible>(())
                });
            }
        }
        start = end;
    }
    tally
}

/// A stream's answer to an invalid message: no colour, the error, and the stamp's fields.
fn invalid(snap: &Snapshot, as_of: &str, error: String) -> EncodedCode {
    proto::CodeResponse {
        color: proto::Color::Unspecified as i32,
        as_of: as_of.to_string(),
        index_generation: snap.generation,
        data_as_of: snap.data_as_of.as_str().to_string(),
        error,
        ..Default::default()
    }
    .into()
}

/// The answer stream of one `StreamCodes` call. Each time the transport asks for an answer and
/// none is ready, it takes the messages that have arrived (at most [`CHUNK`]), admits them one by
/// one as a single call would be (deadline, then the caller's rate; one in-flight permit for the
/// chunk's evaluation) and answers those admitted. A refusal ends the stream with its status
/// after the answers of the messages before it; nothing is read or evaluated after the end, and
/// nothing beyond one chunk is evaluated that the client has not yet asked for.
pub struct Answers {
    inbound: Streaming<proto::CodeRequest>,
    /// The state, limits and metrics the call is answered with.
    service: HealthCodeService,
    who: String,
    deadline: Option<Deadline>,
    /// The shared texts of the answers, kept while the generation and day stay the same.
    stamp: Option<Stamp>,
    /// Messages admitted so far (for the deadline's message).
    admitted: usize,
    ready: VecDeque<Result<EncodedCode, Status>>,
    /// The inbound stream ended or a refusal ended the answers: nothing more is read.
    ended: bool,
}

impl Answers {
    /// The answers to `inbound` from `service` for the caller `who`.
    pub fn new(
        inbound: Streaming<proto::CodeRequest>,
        service: &HealthCodeService,
        who: String,
        deadline: Option<Deadline>,
    ) -> Answers {
        Answers {
            inbound,
            service: service.clone(),
            who,
            deadline,
            stamp: None,
            admitted: 0,
            ready: VecDeque::with_capacity(CHUNK),
            ended: false,
        }
    }

    /// Admits what it can of `chunk` and queues the answers, then the refusal or the inbound
    /// error that ends the stream, if any.
    fn answer(&mut self, mut chunk: Vec<proto::CodeRequest>, inbound_error: Option<Status>) {
        let mut refusal = None;
        let mut permit: Option<Permit> = None;
        let before = self.admitted;
        for _ in &chunk {
            if let Err(s) = Deadline::check_opt(self.deadline.as_ref(), self.admitted, None) {
                refusal = Some(s);
                break;
            }
            if permit.is_none() {
                match self.service.limits.try_admit() {
                    Ok(p) => permit = Some(p),
                    Err(s) => {
                        note(&self.service.metrics, |m| m.shed(Method::STREAM_CODES));
                        refusal = Some(s);
                        break;
                    }
                }
            }
            if let Err(s) = self.service.limits.charge(&self.who, 1) {
                note(&self.service.metrics, |m| {
                    m.rate_limited(Method::STREAM_CODES)
                });
                refusal = Some(s);
                break;
            }
            self.admitted += 1;
        }
        chunk.truncate(self.admitted - before);
        if !chunk.is_empty() {
            let snap = self.service.state.current();
            let ready = &mut self.ready;
            let tally = answer_chunk(&self.service.state, &snap, &mut self.stamp, chunk, |a| {
                ready.push_back(Ok(a))
            });
            note(&self.service.metrics, |m| m.answered(&tally));
        }
        drop(permit);
        if let Some(end) = refusal.or(inbound_error) {
            self.ready.push_back(Err(end));
            self.ended = true;
        }
    }
}

impl Stream for Answers {
    type Item = Result<EncodedCode, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(a) = this.ready.pop_front() {
                return Poll::Ready(Some(a));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let mut chunk = Vec::new();
            let mut error = None;
            while chunk.len() < CHUNK {
                match Pin::new(&mut this.inbound).poll_next(cx) {
                    Poll::Ready(Some(Ok(r))) => chunk.push(r),
                    Poll::Ready(Some(Err(s))) => {
                        error = Some(s);
                        break;
                    }
                    Poll::Ready(None) => {
                        this.ended = true;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            if chunk.is_empty() && error.is_none() && !this.ended {
                return Poll::Pending;
            }
            this.answer(chunk, error);
        }
    }
}
