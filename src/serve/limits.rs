//! Overload protection for the `HealthCode` service: a bound on the query calls in flight (the
//! excess is refused at once with `RESOURCE_EXHAUSTED`, never queued), a bound on how long an
//! admitted call may wait for a thread (CoDel-style, below), per-caller rate limits on persons
//! looked up, and the client's deadline (`grpc-timeout`) carried to the handlers so a call whose
//! deadline has passed stops evaluating.
//!
//! Queueing time: an admitted call waits, for its connection to read it and for a thread to
//! evaluate it (a batch of `grpc::OFFLOAD_FROM` ids or more on the evaluation threads, away from
//! the connections' own work, so that neither delays the other). When the queue has stood for a
//! whole `queue_interval` (a call waited longer than `queue_target`, and since then there were
//! always more calls than threads: a standing queue, not a burst), every call that waited longer
//! than the target is refused when its evaluation would start (after its message is decoded,
//! before any id is looked up); otherwise a call is refused only once it has waited a whole
//! interval. So a burst is absorbed, a standing overload is shed at the head of the queue where
//! refusing is cheapest, and the calls that are answered keep a queueing time near the target
//! (the "controlled delay" rule of CoDel, applied to calls instead of packets).
//!
//! What counts: a `GetCode` or `GetCodes` call holds one in-flight permit from the moment its
//! headers arrive until its answer is ready, so calls waiting for a worker thread count too; a
//! batch holds one permit because it runs on one thread, one id after another, and is bounded
//! by `MAX_BATCH`. A `StreamCodes` call holds none while idle; each of its messages takes a
//! permit while it is evaluated. The rate limits weigh by persons: one per `GetCode` and stream
//! message, the number of ids for `GetCodes`.
//!
//! Health, reflection and `Admin` are never wrapped, so query load cannot shed them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;

use super::metrics::{Method, Metrics};

/// The metadata entry (trailer) of a refusal that says how many milliseconds to wait.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// The wait suggested to a call refused because too many are in flight: long enough for the
/// calls in flight to finish, short enough that a client retrying with jitter loses little.
pub const SHED_RETRY_AFTER: Duration = Duration::from_millis(100);

/// In-flight permits per core by default: enough to keep every core busy while answers are
/// written, few enough that an admitted call waits milliseconds, not seconds, for a thread.
const IN_FLIGHT_PER_CORE: usize = 128;

/// The default of `serve --max-in-flight`: 128 per core (256 on two cores), at most 4,096.
pub fn default_max_in_flight() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (IN_FLIGHT_PER_CORE * cores).min(4096)
}

/// How much query work the server admits, as `serve` flags set it.
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// Most query calls (and streams evaluating a chunk of messages) in flight at once.
    pub max_in_flight: usize,
    /// Persons per second every query caller may look up (`None`: no limit).
    pub rate: Option<NonZeroU32>,
    /// Per token name: its own persons per second (`None`: no limit), instead of `rate`.
    pub rate_for: HashMap<String, Option<NonZeroU32>>,
    /// The queueing time an admitted call may have once the queue stands (zero: no bound on
    /// queueing time; only `max_in_flight` sheds).
    pub queue_target: Duration,
    /// How long the queueing time must stay above `queue_target` before calls are shed by it;
    /// also the most any call may wait.
    pub queue_interval: Duration,
}

/// The default of `serve --queue-target`.
pub const DEFAULT_QUEUE_TARGET: Duration = Duration::from_millis(5);

/// The default of `serve --queue-interval`.
pub const DEFAULT_QUEUE_INTERVAL: Duration = Duration::from_millis(30);

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_in_flight: default_max_in_flight(),
            rate: None,
            rate_for: HashMap::new(),
            queue_target: DEFAULT_QUEUE_TARGET,
            queue_interval: DEFAULT_QUEUE_INTERVAL,
        }
    }
}

/// The queueing-time rule (see the module's text): when a call waited too long to be worth
/// starting.
#[derive(Debug)]
pub struct QueueDelay {
    target: Duration,
    interval: Duration,
    /// The clock's origin for `above_since`.
    epoch: Instant,
    /// Since when (nanoseconds after `epoch`, plus one) the queue has stood: a call waited
    /// longer than the target, and the queue has not emptied since; 0 while it has not.
    above_since: AtomicU64,
}

impl QueueDelay {
    /// The rule with `target` (zero: off) and `interval`.
    pub fn new(target: Duration, interval: Duration) -> QueueDelay {
        QueueDelay {
            target,
            interval,
            epoch: Instant::now(),
            above_since: AtomicU64::new(0),
        }
    }

    /// Whether a call that arrived at `arrived` may start at `now`; `Err` carries how long it
    /// waited and the bound it passed. `crowded` says whether more calls are waiting or running
    /// than there are threads to run them: when not, the queue is empty, and a long wait is
    /// the machine's (another process had the core), not the queue's; refusing would shed
    /// nothing.
    pub fn check_at(
        &self,
        arrived: Instant,
        now: Instant,
        crowded: bool,
    ) -> Result<(), (Duration, Duration)> {
        if self.target.is_zero() {
            return Ok(());
        }
        let waited = now.saturating_duration_since(arrived);
        if !crowded {
            // No more calls than threads: the queue is empty, whatever this call waited (a long
            // wait is then the machine's: another process had the core).
            // One shared word, written only when it changes, so that the cores do not pass
            // its cache line back and forth on every call.
            if self.above_since.load(Ordering::Relaxed) != 0 {
                self.above_since.store(0, Ordering::Relaxed);
            }
            return Ok(());
        }
        if waited <= self.target {
            // A call that was lucky in a standing queue does not end it: only an empty queue does.
            return Ok(());
        }
        let at = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1)
            + 1;
        let since = match self.above_since.load(Ordering::Relaxed) {
            0 => {
                self.above_since.store(at, Ordering::Relaxed);
                at
            }
            t => t,
        };
        let standing = Duration::from_nanos(at.saturating_sub(since)) > self.interval;
        let bound = if standing { self.target } else { self.interval };
        if waited <= bound {
            Ok(())
        } else {
            Err((waited, bound))
        }
    }

    /// `check_at` now, as the refusal a client receives.
    pub fn check(&self, arrived: Instant, crowded: bool) -> Result<(), Status> {
        self.check_at(arrived, Instant::now(), crowded).map_err(|(waited, bound)| {
            retry_after(
                Status::resource_exhausted(format!(
                    "server overloaded: this call waited {} ms for a thread (bound {} ms while the queue stands); retry after {} ms",
                    waited.as_millis(),
                    bound.as_millis(),
                    SHED_RETRY_AFTER.as_millis()
                )),
                SHED_RETRY_AFTER,
            )
        })
    }
}

/// A rate of persons per second; its burst is one second's worth.
struct Rate<L> {
    per_sec: NonZeroU32,
    limiter: L,
}

/// The admission state shared by every query call.
pub struct Limits {
    max_in_flight: usize,
    /// Calls admitted and not yet finished: a counter, not a semaphore, since nothing ever
    /// waits for a place (a semaphore's release takes its waiters' lock at every call).
    admitted: Arc<AtomicUsize>,
    /// The default rate, and each caller's own allowance under it (made on the caller's first
    /// call; looked up by name without allocating).
    rate: Option<(NonZeroU32, DashMap<String, DefaultDirectRateLimiter>)>,
    rate_for: HashMap<String, Option<Rate<DefaultDirectRateLimiter>>>,
    queue: QueueDelay,
    /// The worker threads that run calls (one per core).
    threads: usize,
}

/// One admitted evaluation; dropping it frees its place.
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The most `--max-in-flight` may be (what a semaphore of tokio allows, kept as the bound).
const MAX_IN_FLIGHT: usize = usize::MAX >> 3;

impl Limits {
    /// The limits `config` describes; refuses a zero `max_in_flight`.
    pub fn new(config: &LimitsConfig) -> Result<Limits, String> {
        if config.max_in_flight == 0 {
            return Err("--max-in-flight 0 would refuse every query: give at least 1".into());
        }
        if config.max_in_flight > MAX_IN_FLIGHT {
            return Err(format!(
                "--max-in-flight {}: at most {}",
                config.max_in_flight, MAX_IN_FLIGHT
            ));
        }
        if !config.queue_target.is_zero() && config.queue_interval < config.queue_target {
            return Err(format!(
                "--queue-interval {:?} is shorter than --queue-target {:?}: the interval is how long the queue must stand above the target, give at least the target",
                config.queue_interval, config.queue_target
            ));
        }
        Ok(Limits {
            queue: QueueDelay::new(config.queue_target, config.queue_interval),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_in_flight: config.max_in_flight,
            admitted: Arc::new(AtomicUsize::new(0)),
            rate: config.rate.map(|per_sec| (per_sec, DashMap::new())),
            rate_for: config
                .rate_for
                .iter()
                .map(|(name, rate)| {
                    let r = rate.map(|per_sec| Rate {
                        per_sec,
                        limiter: RateLimiter::direct(Quota::per_second(per_sec)),
                    });
                    (name.clone(), r)
                })
                .collect(),
        })
    }

    /// The configured bound on calls in flight.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Runs `evaluate` on the evaluation threads and waits for its result. The job is refused
    /// with `RESOURCE_EXHAUSTED` instead when, as a thread takes it, the call has queued past
    /// the queueing-time bound (counted from its `arrival`, so its wait for the connection is
    /// in it too); it is skipped when its caller has gone away meanwhile. A panic in
    /// `evaluate` becomes `INTERNAL` for this call alone.
    pub async fn offload<T: Send + 'static>(
        self: &Arc<Self>,
        arrival: Option<Arrival>,
        evaluate: impl FnOnce() -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let limits = self.clone();
        let pool = eval_pool();
        pool.pending.fetch_add(1, Ordering::Relaxed);
        pool.threads.spawn(move || {
            let _taken = Taken(&pool.pending);
            if tx.is_closed() {
                return;
            }
            let crowded =
                pool.pending.load(Ordering::Relaxed) > pool.threads.current_num_threads();
            let r = match arrival {
                Some(a) => limits.queue.check(a.0, crowded),
                None => Ok(()),
            }
            .and_then(|()| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(evaluate)).unwrap_or_else(
                    |_| Err(Status::internal("evaluating this call failed (a defect in healthcode); other calls are unaffected")),
                )
            });
            let _ = tx.send(r);
        });
        rx.await.unwrap_or_else(|_| {
            Err(Status::internal(
                "the evaluation thread ended without an answer",
            ))
        })
    }

    /// Refuses a call that arrived at `arrival` and is about to be evaluated if it queued too
    /// long (see [`QueueDelay`]); a call without an arrival (not admitted by [`Admission`])
    /// passes.
    pub fn check_queue(&self, arrival: Option<&Arrival>) -> Result<(), Status> {
        match arrival {
            Some(a) => self.queue.check(a.0, self.in_flight() > self.threads),
            None => Ok(()),
        }
    }

    /// Query calls (and streams evaluating a chunk of messages) admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Admits one evaluation, or refuses at once when `max_in_flight` are already in flight.
    pub fn try_admit(&self) -> Result<Permit, Status> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_in_flight).then_some(n + 1)
            })
            .map(|_| Permit(self.admitted.clone()))
            .map_err(|_| {
                retry_after(
                    Status::resource_exhausted(format!(
                        "server overloaded: {} requests in flight; retry after {} ms",
                        self.max_in_flight,
                        SHED_RETRY_AFTER.as_millis()
                    )),
                    SHED_RETRY_AFTER,
                )
            })
    }

    /// Charges `persons` lookups to `caller`'s rate limit, or refuses with the wait before
    /// they would fit. Other callers' allowances are untouched either way.
    pub fn charge(&self, caller: &str, persons: usize) -> Result<(), Status> {
        let Some(n) = NonZeroU32::new(u32::try_from(persons).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        let (per_sec, decision, now) = match self.rate_for.get(caller) {
            Some(None) => return Ok(()),
            Some(Some(r)) => {
                let d = r.limiter.check_n(n);
                (r.per_sec, d, r.limiter.clock().now())
            }
            None => match &self.rate {
                None => return Ok(()),
                Some((per_sec, callers)) => {
                    // Caller names come from the tokens file, so the map stays that small.
                    let limiter = match callers.get(caller) {
                        Some(l) => l,
                        None => callers
                            .entry(caller.to_string())
                            .or_insert_with(|| RateLimiter::direct(Quota::per_second(*per_sec)))
                            .downgrade(),
                    };
                    let d = limiter.check_n(n);
                    (*per_sec, d, limiter.clock().now())
                }
            },
        };
        match decision {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                // When all `n` persons would fit (the limiter's answer counts every one).
                let wait = not_until.wait_time_from(now);
                Err(retry_after(
                    Status::resource_exhausted(format!(
                        "rate limit of caller {caller:?}: {per_sec} persons/s; this call asks \
                         for {n}; retry after {} ms",
                        whole_ms(wait)
                    )),
                    wait,
                ))
            }
            Err(too_many) => Err(Status::resource_exhausted(format!(
                "rate limit of caller {caller:?}: {n} persons in one call exceed its burst of \
                 {} persons: split the batch",
                too_many.0
            ))),
        }
    }
}

/// The evaluation threads (one per core) that run large batches, and how many jobs they hold
/// (waiting or running).
struct EvalPool {
    threads: rayon::ThreadPool,
    pending: AtomicUsize,
}

/// The process's evaluation threads, started on first use.
fn eval_pool() -> &'static EvalPool {
    static POOL: std::sync::OnceLock<EvalPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| EvalPool {
        threads: rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("healthcode-eval-{i}"))
            .build()
            .expect("starting the evaluation threads"),
        pending: AtomicUsize::new(0),
    })
}

/// Counts a job as taken off `pending` when it ends, whichever way.
struct Taken<'a>(&'a AtomicUsize);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `wait` rounded up to a whole millisecond, at least one.
fn whole_ms(wait: Duration) -> u64 {
    u64::try_from(wait.as_micros().div_ceil(1000).max(1)).unwrap_or(u64::MAX)
}

/// `status` with a `retry-after-ms` entry of `wait` in whole milliseconds (as its text says).
fn retry_after(mut status: Status, wait: Duration) -> Status {
    status
        .metadata_mut()
        .insert(RETRY_AFTER_MS, MetadataValue::from(whole_ms(wait)));
    status
}

/// When a unary call's headers arrived, as the admission layer leaves it in the request for the
/// handler's queueing-time check.
#[derive(Clone, Copy, Debug)]
pub struct Arrival(pub Instant);

/// When a call must be answered by: its `grpc-timeout` counted from the arrival of its headers.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// The deadline a `grpc-timeout` header value sets for a call that arrived at `arrived`;
    /// `None` when absent or malformed (a call without a deadline).
    pub fn from_header(value: &str, arrived: Instant) -> Option<Deadline> {
        let timeout = parse_grpc_timeout(value)?;
        Some(Deadline {
            at: arrived.checked_add(timeout)?,
            timeout,
        })
    }

    /// `Ok` while the deadline is ahead; `DEADLINE_EXCEEDED` once it has passed, saying how
    /// far the call got (`done` persons evaluated, of `of` when the call says how many).
    pub fn check(&self, done: usize, of: Option<usize>) -> Result<(), Status> {
        if Instant::now() < self.at {
            return Ok(());
        }
        let of = of.map_or(String::new(), |n| format!(" of {n}"));
        Err(Status::deadline_exceeded(format!(
            "the client's deadline of {:?} passed after {done}{of} persons were evaluated; \
             nothing more is: allow more time or send fewer ids",
            self.timeout
        )))
    }

    /// Checks an optional deadline.
    pub fn check_opt(
        deadline: Option<&Deadline>,
        done: usize,
        of: Option<usize>,
    ) -> Result<(), Status> {
        deadline.map_or(Ok(()), |d| d.check(done, of))
    }
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H M S m u n), as the gRPC over HTTP/2
/// protocol defines it.
fn parse_grpc_timeout(s: &str) -> Option<Duration> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(v * 3600),
        'M' => Duration::from_secs(v * 60),
        'S' => Duration::from_secs(v),
        'm' => Duration::from_millis(v),
        'u' => Duration::from_micros(v),
        'n' => Duration::from_nanos(v),
        _ => return None,
    })
}

/// The `HealthCode` service behind admission control: stamps each call with its deadline,
/// and admits a unary call only with an in-flight permit, held until its answer is ready; it
/// leaves the call's [`Arrival`] for the handler, which refuses the call if it queued too long
/// before its evaluation would start.
/// Stream calls pass through; their messages are admitted one by one by the handler.
#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    limits: Arc<Limits>,
    metrics: Option<Arc<Metrics>>,
}

impl<S> Admission<S> {
    /// Wraps `inner` (the `HealthCode` server; the credential interceptor goes outside, so an
    /// unauthenticated call never takes a permit); a refusal is counted in `metrics`.
    pub fn new(inner: S, limits: Arc<Limits>, metrics: Option<Arc<Metrics>>) -> Self {
        Admission {
            inner,
            limits,
            metrics,
        }
    }
}

impl<S: NamedService> NamedService for Admission<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Admission<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let arrived = Instant::now();
        if let Some(d) = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Deadline::from_header(v, arrived))
        {
            req.extensions_mut().insert(d);
        }
        let permit = if req.uri().path().ends_with("/StreamCodes") {
            None
        } else {
            match self.limits.try_admit() {
                Ok(p) => {
                    req.extensions_mut().insert(Arrival(arrived));
                    Some(p)
                }
                Err(status) => {
                    if let Some(m) = &self.metrics {
                        m.shed(Method::of_path(req.uri().path()));
                    }
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            }
        };
        // The clone that was made ready is the one that serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let res = inner.call(req).await;
            drop(permit);
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, rate: Option<u32>, rate_for: &[(&str, Option<u32>)]) -> Limits {
        Limits::new(&LimitsConfig {
            max_in_flight: max,
            rate: rate.and_then(NonZeroU32::new),
            rate_for: rate_for
                .iter()
                .map(|(n, r)| (n.to_string(), r.and_then(NonZeroU32::new)))
                .collect(),
            ..LimitsConfig::default()
        })
        .unwrap()
    }

    fn retry_ms(s: &Status) -> u64 {
        s.metadata()
            .get(RETRY_AFTER_MS)
            .expect("a retry hint")
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn permits_are_bounded_and_returned() {
        let l = limits(2, None, &[]);
        let a = l.try_admit().unwrap();
        let _b = l.try_admit().unwrap();
        assert_eq!(l.in_flight(), 2);
        let refused = l.try_admit().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused
                .message()
                .contains("server overloaded: 2 requests in flight; retry after 100 ms"),
            "{}",
            refused.message()
        );
        assert_eq!(retry_ms(&refused), 100);
        drop(a);
        assert_eq!(l.in_flight(), 1);
        assert!(l.try_admit().is_ok());
    }

    #[test]
    fn queueing_time_sheds_only_a_standing_queue() {
        let ms = Duration::from_millis;
        let q = QueueDelay::new(ms(5), ms(100));
        let at = |n: u64| q.epoch + ms(n);
        let check = |arrived, now| q.check_at(at(arrived), at(now), true);
        // A call within the target starts.
        assert!(check(1000, 1003).is_ok());
        // A burst: waits above the target but within the interval start while the queue has
        // stood for less than an interval (since 1060)…
        assert!(check(1010, 1060).is_ok());
        assert!(check(1003, 1100).is_ok());
        // …but no call may wait longer than the interval.
        assert_eq!(check(1000, 1101), Err((ms(101), ms(100))));
        // A lucky call within the target does not end the standing queue…
        assert!(check(1150, 1155).is_ok());
        // …so past an interval, every call above the target is refused, even one well within
        // the interval.
        assert_eq!(check(1200, 1206), Err((ms(6), ms(5))));
        assert!(check(1200, 1205).is_ok());
        // The queue empties (no more calls than threads): a long wait then is the machine's,
        // never refused, and bursts are absorbed again.
        assert!(q.check_at(at(1300), at(1900), false).is_ok());
        assert!(check(2000, 2050).is_ok());
        assert!(check(1990, 2060).is_ok());
        // Off: nothing is refused for its queueing time.
        let off = QueueDelay::new(Duration::ZERO, ms(100));
        assert!(off.check_at(at(0), at(100_000), true).is_ok());
    }

    #[test]
    fn a_queue_interval_shorter_than_its_target_is_refused() {
        let e = Limits::new(&LimitsConfig {
            queue_target: Duration::from_millis(50),
            queue_interval: Duration::from_millis(10),
            ..LimitsConfig::default()
        })
        .err()
        .unwrap();
        assert!(e.contains("--queue-interval"), "{e}");
    }

    #[test]
    fn zero_in_flight_is_refused() {
        let e = Limits::new(&LimitsConfig {
            max_in_flight: 0,
            ..LimitsConfig::default()
        })
        .err()
        .unwrap();
        assert!(e.contains("--max-in-flight 0"), "{e}");
    }

    #[test]
    fn rate_is_per_caller_with_a_one_second_burst() {
        // Slow rates, so that the test's own pauses refill nothing that matters.
        let l = limits(10, Some(2), &[("bulk", Some(5)), ("ops", None)]);
        // A burst of one second's worth, then refusals with a hint of at most one interval.
        l.charge("app", 2).unwrap();
        let e = l.charge("app", 1).unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        assert!(
            e.message()
                .contains("rate limit of caller \"app\": 2 persons/s")
        );
        assert!((1..=500).contains(&retry_ms(&e)), "{}", retry_ms(&e));
        // Two persons at 2/s wait one interval more than one person.
        let e2 = l.charge("app", 2).unwrap_err();
        assert!(retry_ms(&e2) > retry_ms(&e) + 400, "{}", retry_ms(&e2));
        // Another caller under the same default has its own allowance.
        l.charge("web", 2).unwrap();
        // Overrides: a larger allowance, and none at all.
        l.charge("bulk", 5).unwrap();
        assert!(l.charge("bulk", 1).is_err());
        l.charge("ops", 1_000_000).unwrap();
        // A call larger than the burst can never fit: say so instead of a retry hint.
        let e = l.charge("web2", 3).unwrap_err();
        assert!(e.message().contains("split the batch"), "{}", e.message());
        assert!(e.metadata().get(RETRY_AFTER_MS).is_none());
        // Nothing charged for nothing.
        l.charge("app", 0).unwrap();
    }

    #[test]
    fn no_rate_limit_by_default() {
        let l = limits(1, None, &[]);
        l.charge("anonymous", 1_000_000).unwrap();
    }

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_grpc_timeout("99999999S"),
            Some(Duration::from_secs(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        for bad in ["", "m", "123456789m", "1x", "-1S", "1.5S", "١S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_passed_deadline_refuses() {
        let d = Deadline::from_header("1n", Instant::now() - Duration::from_millis(1)).unwrap();
        let e = d.check(3, Some(10)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::DeadlineExceeded);
        assert!(
            e.message().contains("after 3 of 10 persons"),
            "{}",
            e.message()
        );
        let d = Deadline::from_header("1H", Instant::now()).unwrap();
        assert!(d.check(0, None).is_ok());
    }
}
