//! The `Admin` service of DOMAIN.md §5 over the shared state: live writes, reload, the rebuild
//! trigger, affected counts and info.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::Caller;
use super::grpc::note;
use super::metrics::Metrics;
use super::rebuild::{RebuildEvent, RebuildRefused};
use super::state::{LiveError, LoadError, Snapshot, State};
use crate::audit::Record;
use crate::domain::{Day, IdNumber, Period, RegionCode, RiskLevel, mask};
use crate::overlay::log::MAX_TEXT;
use crate::overlay::{Change, WriteError};
use crate::proto::{self, admin_server::Admin};
use crate::regions::RegionTable;

/// The `Admin` service.
#[derive(Clone)]
pub struct AdminService {
    /// Shared state.
    pub state: Arc<State>,
    /// Where swaps are counted, when the server keeps metrics.
    pub metrics: Option<Arc<Metrics>>,
}

fn parse_region(field: &str, s: &str) -> Result<RegionCode, Status> {
    RegionCode::parse(s.trim()).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

fn parse_day(field: &str, s: &str) -> Result<Day, Status> {
    Day::parse(s.trim()).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

/// A day field that defaults to the server's today when empty.
fn day_or_today(state: &State, field: &str, s: &str) -> Result<Day, Status> {
    if s.trim().is_empty() {
        Ok(state.today())
    } else {
        parse_day(field, s)
    }
}

/// A day on which a verification or a registration says it happened: empty means the server's
/// today, and a day later than tomorrow (one day of clock skew between a desk and the server) is
/// refused: it has not come yet, and a mistyped year would otherwise date the next rebuild's
/// records.
fn day_done(state: &State, field: &str, s: &str) -> Result<Day, Status> {
    let d = day_or_today(state, field, s)?;
    let today = state.today();
    if d > today.plus(1) {
        return Err(Status::invalid_argument(format!(
            "{field}: {d} has not come yet (the server's today is {today}; one day ahead is \
             allowed for clock skew)"
        )));
    }
    Ok(d)
}

/// A region that the bundled table or the serving index knows.
fn known_region(state: &State, field: &str, s: &str) -> Result<RegionCode, Status> {
    let r = parse_region(field, s)?;
    // The index's dictionary first: the national table (tens of MB of heap) is loaded only for
    // a region no record of the index names.
    if !state.current().index.region_name(r).is_empty() || RegionTable::bundled().contains(r) {
        Ok(r)
    } else {
        Err(Status::invalid_argument(format!(
            "{field}: unknown region code {}",
            mask::quoted_code(s)
        )))
    }
}

fn text(field: &str, s: String) -> Result<String, Status> {
    if s.len() > MAX_TEXT {
        return Err(Status::invalid_argument(format!(
            "{field}: {} bytes; at most {MAX_TEXT}",
            s.len()
        )));
    }
    Ok(s)
}

fn caller<T>(req: &Request<T>) -> String {
    req.extensions()
        .get::<Caller>()
        .map_or_else(|| "anonymous".to_string(), |c| c.name.to_string())
}

fn person(state: &State, id_number: &str) -> Result<(u64, String), Status> {
    let id = IdNumber::parse(id_number.trim())
        .map_err(|e| Status::invalid_argument(format!("id_number: {e}")))?;
    Ok((state.key.hash_id(id), id.masked()))
}

/// What a live write changes, for the log: its kind and a sentence naming its subject (an area
/// code, or a masked document number).
fn change_summary(c: &Change) -> (&'static str, String) {
    match c {
        Change::SetRiskArea {
            area,
            level,
            period,
        } => (
            "set_risk_area",
            format!(
                "risk area {area} set to {level} from {}{}",
                period.from,
                period.to.map_or(String::new(), |t| format!(" to {t}"))
            ),
        ),
        Change::LiftRiskArea { area, to } => (
            "lift_risk_area",
            format!("risk area {area} lifted after {to}"),
        ),
        Change::Verification {
            masked,
            verified_on,
            ..
        } => (
            "verification",
            format!("verification of {masked} on {verified_on}"),
        ),
        Change::Registration {
            masked,
            registered_on,
            ..
        } => (
            "registration",
            format!("registration of {masked} on {registered_on}"),
        ),
    }
}

impl AdminService {
    /// Makes a change durable on a blocking thread (the fsync) and acknowledges its sequence.
    async fn write(
        &self,
        caller: String,
        operator: String,
        reason: String,
        change: Change,
        check: impl FnOnce(&Change, &Snapshot) -> Result<(), String> + Send + 'static,
    ) -> Result<u64, Status> {
        let state = self.state.clone();
        let (kind, what) = change_summary(&change);
        // Made durable and logged on a thread of its own to the end, whether or not the caller
        // is still waiting (a deadline, a hang-up).
        let res = tokio::task::spawn_blocking(move || {
            let res = state.write(&caller, &operator, &reason, change, check);
            let who = &caller;
            match &res {
                Ok(sequence) => tracing::info!(
                    kind,
                    sequence,
                    caller = %who,
                    "live write {sequence} by {who}: {what} (durable)"
                ),
                Err(LiveError::Write(WriteError::Io(e))) => tracing::warn!(
                    kind,
                    caller = %who,
                    error = %e,
                    "live write by {who} not acknowledged ({what}): {e}"
                ),
                Err(e) => tracing::info!(
                    kind,
                    caller = %who,
                    error = %e,
                    "live write by {who} refused ({what}): {e}"
                ),
            }
            res
        })
        .await
        .map_err(|e| Status::internal(format!("the write task failed: {e}")))?;
        res.map_err(|e| match e {
            LiveError::NoStateDir => Status::failed_precondition(e.to_string()),
            LiveError::Write(WriteError::Refused(why)) => Status::failed_precondition(why),
            LiveError::Write(WriteError::Io(_)) => Status::unavailable(e.to_string()),
            LiveError::Write(WriteError::ReadOnly(why)) => Status::failed_precondition(why),
        })
    }

    /// Refuses every admin write on a follower, before anything is parsed or recorded: it
    /// takes none, and saying where they go is the useful answer. `FAILED_PRECONDITION`, not
    /// `UNAVAILABLE`: asking this server again can never succeed, and clients that retry
    /// `UNAVAILABLE` must not resend a write to whichever replica comes next.
    fn writable(&self) -> Result<(), Status> {
        match self.state.read_only() {
            Some(why) => Err(Status::failed_precondition(why)),
            None => Ok(()),
        }
    }
}

impl AdminService {
    /// A reload from its `requested` record to its outcome, on this thread (blocking): the
    /// audit log, the server's log and the swap metrics all get the outcome, whoever waits.
    fn reload_now(
        &self,
        turn: super::state::ReloadTurn,
        who: &str,
        r: &proto::ReloadRequest,
    ) -> Result<Response<proto::ReloadResponse>, Status> {
        let rec = || reload_record(who, r);
        // Recorded before anything is done: a reload the audit log cannot take does not happen.
        audit_now(&self.state, rec().outcome("requested"))?;
        let started = Instant::now();
        let res = self.state.reload(std::path::Path::new(&r.path), r.force);
        drop(turn);
        let took = started.elapsed();
        let outcome = if res.is_ok() { "ok" } else { "refused" };
        note(&self.metrics, |m| m.swapped("reload", outcome, took));
        // The caller's path, quoted on one line: a newline in it starts no line of the log.
        let shown = mask::quoted_path(std::path::Path::new(&r.path));
        match &res {
            Ok(generation) => tracing::info!(
                kind = "reload",
                path = %shown,
                generation,
                caller = %who,
                took_ms = took.as_millis() as u64,
                "reload by {who}: {shown} verified and serving as generation {generation} ({took:.2?})",
            ),
            Err(e) => tracing::warn!(
                kind = "reload",
                path = %shown,
                caller = %who,
                error = %e,
                "reload by {who} refused, the previous index keeps serving: {e}"
            ),
        }
        let (outcome, res) = match res {
            Ok(generation) => (
                rec().with("generation", generation).outcome("ok"),
                Ok(Response::new(proto::ReloadResponse { generation })),
            ),
            Err(e) => {
                let status = match e {
                    LoadError::Io { .. } => {
                        Status::not_found(format!("{e}; the previous index keeps serving"))
                    }
                    _ => Status::failed_precondition(format!(
                        "{e}; the previous index keeps serving"
                    )),
                };
                (rec().outcome(format!("refused: {e}")), Err(status))
            }
        };
        // The request is on record already; an outcome the log cannot take does not undo it.
        if let Err(e) = audit_now(&self.state, outcome) {
            tracing::warn!(error = %e.message(), "{}", e.message());
        }
        res
    }

    /// Makes an audit record of an action that is not a live write durable (on a blocking
    /// thread, for the fsync). Without a state directory there is no audit log to write.
    async fn audit(&self, r: Record) -> Result<(), Status> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || audit_now(&state, r))
            .await
            .map_err(|e| Status::internal(format!("the audit task failed: {e}")))?
    }

    /// Records a request refused before anything was changed, and returns the refusal (an
    /// audit log that cannot take the record changes nothing about it).
    async fn refused(&self, r: Record, status: Status) -> Status {
        let _ = self
            .audit(r.outcome(format!("refused: {}", status.message())))
            .await;
        status
    }

    /// A live write about one person (a verification, a registration): parses the document
    /// number and the request's own fields (`change`, given the person's key and masked
    /// number), then makes the change durable and acknowledges it, or audits its refusal with
    /// the request as `details` adds it to the common fields.
    async fn person_write(
        &self,
        who: String,
        f: PersonWrite<'_>,
        change: impl FnOnce(u64, String) -> Result<Change, Status>,
        details: impl FnOnce(Record) -> Record,
    ) -> Result<Response<proto::WriteAck>, Status> {
        let parsed = (|| {
            let (person, masked) = person(&self.state, f.id_number)?;
            Ok((
                change(person, masked)?,
                text("operator", f.operator.to_string())?,
                text(f.reason_field, f.reason.to_string())?,
            ))
        })();
        let (change, operator, reason) = self
            .or_refused(parsed, || {
                details(
                    Record::new(f.action, &who, f.operator, f.reason)
                        .with("id_number", mask::id_text(f.id_number.trim())),
                )
            })
            .await?;
        let sequence = self
            .write(who, operator, reason, change, |_, _| Ok(()))
            .await?;
        Ok(Response::new(proto::WriteAck {
            sequence,
            ..Default::default()
        }))
    }

    /// What a write request's fields parsed into, or its refusal, recorded by `refused` with the
    /// request as `record` describes it.
    async fn or_refused<T>(
        &self,
        parsed: Result<T, Status>,
        record: impl FnOnce() -> Record,
    ) -> Result<T, Status> {
        match parsed {
            Ok(v) => Ok(v),
            Err(s) => Err(self.refused(record(), s).await),
        }
    }
}

/// The audit record of a reload request, before its outcome.
fn reload_record(who: &str, r: &proto::ReloadRequest) -> Record {
    Record::new("reload", who, "", "")
        .with("path", &r.path)
        .with("force", r.force)
}

/// Makes an audit record durable on this thread (it waits for the fsync). Without a state
/// directory there is no audit log to write.
fn audit_now(state: &State, r: Record) -> Result<(), Status> {
    match &state.overlay {
        Some(o) => o.audit(r).map(drop).map_err(|e| {
            Status::unavailable(format!(
                "the audit log could not record the request, so nothing was done: {e}"
            ))
        }),
        None => Ok(()),
    }
}

/// The fields every live write about one person carries, and how its audit record names them.
struct PersonWrite<'a> {
    action: &'static str,
    id_number: &'a str,
    operator: &'a str,
    reason: &'a str,
    /// The request's name for `reason` (`ticket` for a verification).
    reason_field: &'static str,
}

/// The name of a requested risk level, as the record of a refused request shows it.
fn level_name(level: i32) -> String {
    proto::RiskLevel::try_from(level)
        .map_or_else(|_| level.to_string(), |l| l.as_str_name().to_string())
}

/// A rebuild's progress in the log.
fn log_rebuild(e: &RebuildEvent) {
    match e {
        RebuildEvent::Started { out, folded } => tracing::info!(
            kind = "rebuild",
            stage = "started",
            index = %out.display(),
            folded,
            "rebuild: building {} (folding live writes through sequence {folded})",
            out.display()
        ),
        RebuildEvent::Stage { stage, n, of } => tracing::info!(
            kind = "rebuild",
            stage = stage.name(),
            n,
            of,
            "rebuild: stage {n} of {of}: {}",
            stage.describe()
        ),
        RebuildEvent::Built {
            persons,
            rows,
            rejected,
            seconds,
            warnings,
            ..
        } => {
            for w in warnings {
                // A warning names a file of the caller's directory: one line, whatever its name.
                let w = mask::one_line(w);
                tracing::warn!(kind = "rebuild", stage = "built", warning = %w, "rebuild: {w}");
            }
            tracing::info!(
                kind = "rebuild",
                stage = "built",
                persons,
                rows,
                rejected,
                seconds,
                "rebuild: built {persons} persons from {rows} feed rows ({rejected} rejected) in {seconds:.1} s"
            )
        }
        RebuildEvent::Swapped { generation } => tracing::info!(
            kind = "rebuild",
            stage = "swapped",
            generation,
            "rebuild: generation {generation} is serving"
        ),
        RebuildEvent::Failed(why) => tracing::warn!(
            kind = "rebuild",
            stage = "failed",
            error = %why,
            "rebuild failed, the previous index keeps serving: {why}"
        ),
    }
}

/// The wire stage of a rebuild event.
fn progress(e: RebuildEvent) -> Result<proto::RebuildProgress, Status> {
    let p = |stage: &str, done, total, message: String| proto::RebuildProgress {
        stage: stage.to_string(),
        done,
        total,
        message,
        generation: 0,
    };
    Ok(match e {
        RebuildEvent::Started { out, folded } => p(
            "started",
            0,
            0,
            format!(
                "building {} (folding live writes through sequence {folded})",
                out.display()
            ),
        ),
        RebuildEvent::Stage { stage, n, of } => {
            p(stage.name(), n, of, stage.describe().to_string())
        }
        RebuildEvent::Built {
            persons,
            rows,
            rejected,
            rejects,
            seconds,
            warnings,
        } => p(
            "built",
            0,
            0,
            format!(
                "{persons} persons from {rows} feed rows ({rejected} rejected, listed in {}) in {seconds:.1} s{}",
                rejects.display(),
                warnings
                    .iter()
                    .map(|w| format!("; warning: {}", mask::one_line(w)))
                    .collect::<String>()
            ),
        ),
        RebuildEvent::Swapped { generation } => proto::RebuildProgress {
            generation,
            ..p(
                "swapped",
                1,
                1,
                format!("generation {generation} is serving"),
            )
        },
        RebuildEvent::Failed(why) => {
            return Err(Status::failed_precondition(format!(
                "rebuild failed, the previous index keeps serving: {why}"
            )));
        }
    })
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn set_risk_area(
        &self,
        req: Request<proto::SetRiskAreaRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        self.writable()?;
        let who = caller(&req);
        let r = req.into_inner();
        let parsed = (|| {
            let area = known_region(&self.state, "area", &r.area)?;
            let level = match proto::RiskLevel::try_from(r.level) {
                Ok(proto::RiskLevel::Medium) => RiskLevel::Medium,
                Ok(proto::RiskLevel::High) => RiskLevel::High,
                _ => {
                    return Err(Status::invalid_argument(
                        "level: RISK_LEVEL_MEDIUM or RISK_LEVEL_HIGH is required",
                    ));
                }
            };
            let from = day_or_today(&self.state, "from", &r.from)?;
            let to = if r.to.trim().is_empty() {
                None
            } else {
                Some(parse_day("to", &r.to)?)
            };
            if let Some(to) = to
                && to < from
            {
                return Err(Status::invalid_argument(format!(
                    "to {to} is before from {from}"
                )));
            }
            Ok((
                area,
                level,
                from,
                to,
                text("operator", r.operator.clone())?,
                text("reason", r.reason.clone())?,
            ))
        })();
        let (area, level, from, to, operator, reason) = self
            .or_refused(parsed, || {
                Record::new("set_risk_area", &who, &r.operator, &r.reason)
                    .with("area", &r.area)
                    .with("level", level_name(r.level))
                    .with("from", &r.from)
                    .with("to", &r.to)
            })
            .await?;
        let change = Change::SetRiskArea {
            area,
            level,
            period: Period { from, to },
        };
        let sequence = self
            .write(who, operator, reason, change, |_, _| Ok(()))
            .await?;
        let until = to.unwrap_or_else(|| self.state.today()).max(from);
        let (definite, possible) = self.state.current().index.affected(area, from, until);
        Ok(Response::new(proto::WriteAck {
            sequence,
            affected_definite: definite.len(),
            affected_possible: possible.len(),
        }))
    }

    async fn lift_risk_area(
        &self,
        req: Request<proto::LiftRiskAreaRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        self.writable()?;
        let who = caller(&req);
        let r = req.into_inner();
        let parsed = (|| {
            Ok((
                parse_region("area", &r.area)?,
                day_or_today(&self.state, "to", &r.to)?,
                text("operator", r.operator.clone())?,
                text("reason", r.reason.clone())?,
            ))
        })();
        let (area, to, operator, reason) = self
            .or_refused(parsed, || {
                Record::new("lift_risk_area", &who, &r.operator, &r.reason)
                    .with("area", &r.area)
                    .with("to", &r.to)
            })
            .await?;
        let sequence = self
            .write(
                who,
                operator,
                reason,
                Change::LiftRiskArea { area, to },
                move |_, snap| {
                    if snap.risk_areas.areas().iter().any(|z| z.area == area) {
                        Ok(())
                    } else {
                        Err(format!("area {area} has no risk designation to lift"))
                    }
                },
            )
            .await?;
        Ok(Response::new(proto::WriteAck {
            sequence,
            ..Default::default()
        }))
    }

    async fn record_verification(
        &self,
        req: Request<proto::RecordVerificationRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        self.writable()?;
        let who = caller(&req);
        let r = req.into_inner();
        let fields = PersonWrite {
            action: "record_verification",
            id_number: &r.id_number,
            operator: &r.operator,
            reason: &r.ticket,
            reason_field: "ticket",
        };
        self.person_write(
            who,
            fields,
            |person, masked| {
                let verified_on = day_done(&self.state, "verified_on", &r.verified_on)?;
                let scope = if r.scope.trim().is_empty() {
                    None
                } else {
                    Some(known_region(&self.state, "scope", &r.scope)?)
                };
                Ok(Change::Verification {
                    person,
                    masked,
                    verified_on,
                    scope,
                })
            },
            |rec| {
                rec.with("verified_on", &r.verified_on)
                    .with("scope", &r.scope)
            },
        )
        .await
    }

    async fn record_registration(
        &self,
        req: Request<proto::RecordRegistrationRequest>,
    ) -> Result<Response<proto::WriteAck>, Status> {
        self.writable()?;
        let who = caller(&req);
        let r = req.into_inner();
        let fields = PersonWrite {
            action: "record_registration",
            id_number: &r.id_number,
            operator: &r.operator,
            reason: &r.reason,
            reason_field: "reason",
        };
        self.person_write(
            who,
            fields,
            |person, masked| {
                Ok(Change::Registration {
                    person,
                    masked,
                    registered_on: day_done(&self.state, "registered_on", &r.registered_on)?,
                    community: text("community", r.community.clone())?,
                })
            },
            |rec| {
                rec.with("registered_on", &r.registered_on)
                    .with("community", &r.community)
            },
        )
        .await
    }

    async fn reload(
        &self,
        req: Request<proto::ReloadRequest>,
    ) -> Result<Response<proto::ReloadResponse>, Status> {
        self.writable()?;
        let who = caller(&req);
        let r = req.into_inner();
        let rec = || reload_record(&who, &r);
        if r.path.trim().is_empty() {
            let s = Status::invalid_argument("path: the index file to serve is required");
            return Err(self.refused(rec(), s).await);
        }
        // One reload at a time: a second is refused at once rather than given a thread.
        let Some(turn) = self.state.reload_turn() else {
            let s = Status::already_exists(
                "a reload is running; the previous index keeps serving until it ends: ask again then",
            );
            return Err(self.refused(rec(), s).await);
        };
        // Everything from here runs on a thread of its own to the end, recorded and logged
        // whether or not the caller is still waiting for it (a deadline, a hang-up).
        let service = self.clone();
        tokio::task::spawn_blocking(move || service.reload_now(turn, &who, &r))
            .await
            .map_err(|e| Status::internal(format!("the reload task failed: {e}")))?
    }

    type RebuildStream = Pin<Box<dyn Stream<Item = Result<proto::RebuildProgress, Status>> + Send>>;

    async fn rebuild(
        &self,
        req: Request<proto::RebuildRequest>,
    ) -> Result<Response<Self::RebuildStream>, Status> {
        self.writable()?;
        let who = caller(&req);
        let r = req.into_inner();
        let rec = {
            let (who, feeds, force) = (who.clone(), r.feeds.clone(), r.force);
            move || {
                Record::new("rebuild", &who, "", "")
                    .with("feeds", &feeds)
                    .with("force", force)
            }
        };
        if r.feeds.trim().is_empty() {
            let s = Status::invalid_argument("feeds: the feed directory is required");
            return Err(self.refused(rec(), s).await);
        }
        // The progress callback takes `rec`; a start the state refuses is recorded the same way.
        let refused_rec = rec.clone();
        self.audit(rec().outcome("requested")).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let state = self.state.clone();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let out = std::sync::Mutex::new(None::<PathBuf>);
        let started = self
            .state
            .start_rebuild(PathBuf::from(&r.feeds), r.force, move |e| {
                // The outcome is recorded by the rebuild thread, whatever the caller does.
                let outcome = match &e {
                    RebuildEvent::Started { out: o, .. } => {
                        *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(o.clone());
                        None
                    }
                    RebuildEvent::Swapped { generation } => {
                        Some(rec().with("generation", generation).outcome("ok"))
                    }
                    RebuildEvent::Failed(why) => Some(rec().outcome(format!("failed: {why}"))),
                    _ => None,
                };
                log_rebuild(&e);
                match &e {
                    RebuildEvent::Swapped { .. } => {
                        note(&metrics, |m| m.swapped("rebuild", "ok", started.elapsed()))
                    }
                    RebuildEvent::Failed(_) => note(&metrics, |m| {
                        m.swapped("rebuild", "failed", started.elapsed())
                    }),
                    _ => {}
                }
                if let (Some(o), Some(overlay)) = (outcome, &state.overlay) {
                    let index = out.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let o = match index {
                        Some(p) => o.with("index", p.display()),
                        None => o,
                    };
                    if let Err(e) = overlay.audit(o) {
                        tracing::warn!(
                            error = %e,
                            "the audit log could not record a rebuild's outcome: {e}"
                        );
                    }
                }
                // A caller that hung up does not stop the rebuild.
                let _ = tx.send(progress(e));
            })
            .map_err(|e| match e {
                RebuildRefused::Busy => Status::already_exists(e.to_string()),
                RebuildRefused::NoStateDir => Status::failed_precondition(e.to_string()),
                RebuildRefused::Thread(_) => Status::unavailable(e.to_string()),
            });
        if let Err(s) = started {
            return Err(self.refused(refused_rec(), s).await);
        }
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        )))
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
        let overlay = self.state.overlay.as_ref();
        Ok(Response::new(proto::InfoResponse {
            generation: snap.generation,
            persons: u64::from(snap.index.persons()),
            data_as_of: snap.data_as_of.as_str().to_string(),
            policy: self.state.policy.as_str().to_string(),
            overlay_sequence: self.state.overlay_sequence(),
            folded_sequence: snap.folded,
            index_build_id: snap.index.build_id(),
            role: match overlay {
                Some(o) if o.is_follower() => "follower",
                Some(_) => "writer",
                None => "",
            }
            .to_string(),
            log_pending_bytes: overlay.map_or(0, |o| o.pending_bytes()),
            home_region: snap
                .index
                .home()
                .map_or_else(String::new, |h| h.to_string()),
        }))
    }
}
